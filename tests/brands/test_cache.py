"""The cache of loaded LoRAs: bounds, keys (path + size + mtime), counters, bad files, threads, env settings."""

from __future__ import annotations

import os
import threading

import pytest

from brand_library import write_lora, write_sdxl_lora
from comfyui_lora_lab.engines.brands.cache import LoraCache, counters_balanced
from comfyui_lora_lab.engines.brands.config import CacheConfig, parse_size
from comfyui_lora_lab.engines.common.errors import ConfigError
from comfyui_lora_lab.engines.lora_format import HeaderError, LoraFileError, TruncatedFileError, load_tensors


@pytest.fixture
def files(tmp_path):
    return [write_lora(tmp_path / f"lora_{i}.safetensors", seed=i) for i in range(4)]


def test_hit_returns_the_same_tensors_without_reading_the_file(files):
    reads = []
    cache = LoraCache(loader=lambda path: reads.append(path) or load_tensors(path))
    first, second = cache.get(files[0]), cache.get(files[0])
    assert (first.hit, second.hit) == (False, True)
    assert second.lora.tensors is first.lora.tensors and len(reads) == 1
    assert first.lora.family.family == "sd15" and first.lora.nbytes > 0
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["loads"], stats["hit_rate"]) == (1, 1, 1, 0.5)
    assert stats["load_timings"]["count"] == 1 and stats["hit_timings"]["count"] == 1


def test_count_bound_evicts_the_least_recently_used(files):
    cache = LoraCache(CacheConfig(max_entries=2))
    for path in (files[0], files[1], files[0], files[2]):  # files[1] is least recent when files[2] arrives
        cache.get(path)
    assert [p.name for p in cache.cached_paths()] == ["lora_0.safetensors", "lora_2.safetensors"]
    assert cache.snapshot()["evictions"] == 1


def test_byte_bound_holds_at_every_step_and_counters_balance(files):
    size = LoraCache().get(files[0]).lora.nbytes
    cache = LoraCache(CacheConfig(max_entries=100, max_bytes=int(size * 2.5)))
    order = [0, 1, 2, 0, 3, 1, 1, 2, 0, 3]
    for n, index in enumerate(order, 1):
        cache.get(files[index])
        snap = cache.snapshot()
        assert counters_balanced(snap, n) and snap["entries"] <= 2
    snap = cache.snapshot()
    assert snap["evictions"] == snap["misses"] - snap["entries"]


def test_a_file_larger_than_the_budget_is_served_but_never_resident(files):
    cache = LoraCache(CacheConfig(max_bytes=1000))
    assert cache.get(files[0]).lora.tensors
    snap = cache.snapshot()
    assert (snap["entries"], snap["bytes_resident"], snap["oversize"]) == (0, 0, 1)


def test_a_changed_file_is_loaded_again(files):
    cache = LoraCache()
    before = cache.get(files[0]).lora
    write_lora(files[0], seed=99, rank=8)
    os.utime(files[0], ns=(1, 1))  # a different mtime even on coarse clocks
    after = cache.get(files[0])
    assert not after.hit and after.lora.key != before.key
    assert cache.snapshot()["invalidations"] == 1 and cache.snapshot()["entries"] == 1


def test_a_file_deleted_while_cached_is_dropped_with_a_clear_error(files):
    cache = LoraCache()
    cache.get(files[0])
    files[0].unlink()
    with pytest.raises(LoraFileError, match="file not found"):
        cache.get(files[0])
    snap = cache.snapshot()
    assert (snap["entries"], snap["bytes_resident"], snap["errors"], snap["invalidations"]) == (0, 0, 1, 1)
    assert snap["hits"] + snap["misses"] == 2


@pytest.mark.parametrize("damage,error", [
    (lambda raw: raw[: len(raw) // 2], TruncatedFileError),
    (lambda raw: (10**9).to_bytes(8, "little") + raw[8:], HeaderError),  # header longer than the file
    (lambda raw: raw[:5], TruncatedFileError),
    (lambda raw: (20).to_bytes(8, "little") + b"{not json at all}   " + raw[28:], HeaderError),
])
def test_corrupt_files_raise_lora_file_errors_and_are_not_cached(files, damage, error):
    files[0].write_bytes(damage(files[0].read_bytes()))
    cache = LoraCache()
    with pytest.raises(error):
        cache.get(files[0])
    assert cache.snapshot()["entries"] == 0 and cache.snapshot()["errors"] == 1


def test_disabled_cache_loads_every_time(files):
    cache = LoraCache(CacheConfig(enabled=False))
    assert [cache.get(files[0]).hit for _ in range(3)] == [False, False, False]
    snap = cache.snapshot()
    assert (snap["misses"], snap["loads"], snap["entries"]) == (3, 3, 0)
    assert cache.preload(files[0]) is False


def test_concurrent_requests_share_one_load(files):
    started, release = threading.Event(), threading.Event()

    def slow_loader(path):
        started.set()
        release.wait(10)
        return load_tensors(path)

    cache = LoraCache(loader=slow_loader)
    waiting, wait = threading.Event(), cache._wait
    cache._wait = lambda future, start: waiting.set() or wait(future, start)  # the waiter found the load in flight
    results = []
    owner = threading.Thread(target=lambda: results.append(cache.get(files[0])))
    owner.start()
    started.wait(10)
    waiter = threading.Thread(target=lambda: results.append(cache.get(files[0])))
    waiter.start()
    assert waiting.wait(10)
    release.set()
    owner.join(10)
    waiter.join(10)
    snap = cache.snapshot()
    assert snap["loads"] == 1 and snap["misses"] == 1 and snap["hits"] == 1 and snap["coalesced"] == 1
    assert results[0].lora is results[1].lora


def test_preload_is_not_a_request_and_makes_the_first_request_a_hit(files):
    cache = LoraCache()
    assert cache.preload(files[0]) is True and cache.preload(files[0]) is False
    assert cache.get(files[0]).hit
    snap = cache.snapshot()
    assert (snap["preloaded"], snap["hits"], snap["misses"]) == (1, 1, 0)


def test_clear_drops_entries_and_keeps_counters(files):
    cache = LoraCache()
    for path in files[:3]:
        cache.get(path)
    cleared = cache.clear()
    assert cleared["entries_cleared"] == 3 and cleared["bytes_freed"] > 0
    snap = cache.snapshot()
    assert (snap["entries"], snap["bytes_resident"], snap["misses"], snap["clears"]) == (0, 0, 3, 1)
    assert not cache.get(files[0]).hit


def test_family_is_known_from_the_loaded_file(tmp_path):
    cache = LoraCache()
    assert cache.get(write_sdxl_lora(tmp_path / "x.safetensors")).lora.family.family == "sdxl"


@pytest.mark.parametrize("env,expected", [
    ({}, CacheConfig(True, 5, 2 * 1024**3)),
    ({"LORA_CACHE_ENABLED": "false", "LORA_CACHE_MAX_SIZE": "12", "LORA_CACHE_MAX_BYTES": "512MB"},
     CacheConfig(False, 12, 512 * 1024**2)),
    ({"LORA_CACHE_ENABLED": "1", "LORA_CACHE_MAX_BYTES": "1.5GiB"}, CacheConfig(True, 5, int(1.5 * 1024**3))),
    ({"LORA_CACHE_MAX_BYTES": "1048576"}, CacheConfig(True, 5, 1048576)),
])
def test_settings_from_the_environment(env, expected):
    assert CacheConfig.from_env(env) == expected


@pytest.mark.parametrize("env,message", [
    ({"LORA_CACHE_ENABLED": "maybe"}, "LORA_CACHE_ENABLED='maybe' is not a yes/no value"),
    ({"LORA_CACHE_MAX_SIZE": "0"}, "LORA_CACHE_MAX_SIZE='0' is not a whole number >= 1"),
    ({"LORA_CACHE_MAX_SIZE": "five"}, "LORA_CACHE_MAX_SIZE='five'"),
    ({"LORA_CACHE_MAX_BYTES": "lots"}, "LORA_CACHE_MAX_BYTES: 'lots' is not a size"),
    ({"LORA_CACHE_MAX_BYTES": "0"}, "must be at least 1 byte"),
])
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        CacheConfig.from_env(env)


def test_config_validates_when_built_directly():
    with pytest.raises(ConfigError, match="max_entries must be a whole number >= 1, got 0"):
        CacheConfig(max_entries=0)
    assert parse_size("2 kb") == 2048
