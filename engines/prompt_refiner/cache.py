"""A small least-recently-used cache of loaded refiners, keyed by base, adapter (and its file version), device
and precision.

Loading Flan-T5-base takes seconds and ~1 GB, so a model stays loaded between prompts; at most ``capacity``
stay, the oldest is dropped first, and ``unload`` frees them on request (the node's ``keep_loaded`` switch,
``POST /prompt_refiner/unload``). An adapter retrained in place has a new file version, so it is reloaded.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from pathlib import Path

from .adapter_files import ADAPTER_WEIGHTS
from .precision import resolve_precision
from .runtime import LoadedRefiner, load_refiner

CacheKey = tuple[str, str, str, str, int, int]


def cache_key(base_dir: Path, adapter_dir: Path, device: str, precision: str) -> CacheKey:
    weights = Path(adapter_dir) / ADAPTER_WEIGHTS
    stat = weights.stat() if weights.is_file() else None
    return (str(Path(base_dir).resolve()), str(Path(adapter_dir).resolve()), device,
            resolve_precision(precision, device), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)


class ModelCache:
    def __init__(self, capacity: int = 2) -> None:
        if capacity < 1:
            raise ValueError(f"cache capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._models: OrderedDict[CacheKey, LoadedRefiner] = OrderedDict()
        self._lock = threading.Lock()       # guards the dict
        self._load_lock = threading.Lock()  # one load at a time (a load can take seconds and a GB)

    def get(self, base_dir: Path, adapter_dir: Path, device: str = "cpu", base_name: str | None = None,
            adapter_name: str | None = None, precision: str = "auto") -> LoadedRefiner:
        key = cache_key(base_dir, adapter_dir, device, precision)
        with self._load_lock:
            with self._lock:
                if key in self._models:
                    self._models.move_to_end(key)
                    return self._models[key]
            loaded = load_refiner(Path(base_dir), Path(adapter_dir), device, base_name, adapter_name, precision)
            with self._lock:
                self._models[key] = loaded
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
            return loaded

    def unload(self, base_dir: Path | None = None, adapter_dir: Path | None = None) -> int:
        """Drop every loaded model (or only those of one base/adapter pair); returns how many were dropped."""
        wanted = None if base_dir is None else (str(Path(base_dir).resolve()), str(Path(adapter_dir).resolve()))
        with self._lock:
            keys = [key for key in self._models if wanted is None or key[:2] == wanted]
            for key in keys:
                del self._models[key]
        if keys:
            _free_memory()
        return len(keys)

    def loaded(self) -> list[dict]:
        with self._lock:
            return [{"model": m.base_name, "adapter": m.adapter_name, "device": m.device, "precision": m.precision,
                     "busy": m.queue.admitted} for m in self._models.values()]


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
