"""The model cache (reuse, LRU, unload, reload on retrain) and the one-at-a-time queue (limit, timeout, release)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from comfyui_lora_lab.engines.prompt_refiner.adapter_files import ADAPTER_WEIGHTS
from comfyui_lora_lab.engines.prompt_refiner.cache import ModelCache
from comfyui_lora_lab.engines.prompt_refiner.errors import BusyError, GenerationTimeout
from comfyui_lora_lab.engines.prompt_refiner.queueing import GenerationQueue


def test_cache_reuses_drops_the_oldest_and_unloads(tiny_models, models_copy):
    cache = ModelCache(capacity=1)
    first = cache.get(tiny_models.base, tiny_models.adapter)
    assert cache.get(tiny_models.base, tiny_models.adapter) is first
    other = cache.get(models_copy.base, models_copy.adapter)
    assert other is not first and [m["adapter"] for m in cache.loaded()] == ["tiny-refiner"]
    assert cache.get(tiny_models.base, tiny_models.adapter) is not first  # was dropped, loaded again
    assert cache.unload(models_copy.base, models_copy.adapter) == 0
    assert cache.unload() == 1 and cache.loaded() == []


def test_an_adapter_rewritten_in_place_is_loaded_again(models_copy):
    cache = ModelCache()
    first = cache.get(models_copy.base, models_copy.adapter)
    weights = models_copy.adapter / ADAPTER_WEIGHTS
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert cache.get(models_copy.base, models_copy.adapter) is not first


def test_queue_refuses_beyond_its_length_and_gives_places_back():
    queue = GenerationQueue()
    queue.admit(1)
    queue.admit(1)
    with pytest.raises(BusyError, match="1 are waiting"):
        queue.admit(1)
    assert queue.run(lambda: "done") == "done" and queue.admitted == 1
    with pytest.raises(ZeroDivisionError):
        queue.run(lambda: 1 / 0)
    assert queue.admitted == 0


def test_queue_runs_one_at_a_time_and_a_waiter_times_out():
    queue, started, release = GenerationQueue(), threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return "slow"

    queue.admit(None)
    worker = threading.Thread(target=lambda: queue.run(slow))
    worker.start()
    assert started.wait(10)
    queue.admit(None)
    with pytest.raises(GenerationTimeout, match="waiting for the model"):
        queue.run(lambda: "never", deadline=time.monotonic() + 0.05)
    release.set()
    worker.join(10)
    queue.admit(None)
    assert queue.run(lambda: "next", deadline=time.monotonic() + 10) == "next"
    assert queue.admitted == 0
