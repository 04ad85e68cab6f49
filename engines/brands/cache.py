"""A cache of loaded LoRA state dicts (CPU tensors), bounded by entry count and by bytes, with counters.

ComfyUI's LoraLoader keeps one file per node instance, so a workflow alternating brands reads every LoRA
from disk again. This cache holds several, keyed by path + size + mtime: a file replaced on disk has a new
key and is loaded again, a file deleted while cached is dropped and reported. Tensors are shared between
users of an entry; ComfyUI's loader only reads them (it patches clones of the model, never the LoRA).

Counters always balance: every :meth:`LoraCache.get` is one hit or one miss; ``loads`` counts disk
reads (including preloads); bytes resident never exceed ``max_bytes``. Two threads asking for the same
file while it loads share one read (the second counts as a hit, ``coalesced``). What leaves when the cache
is full is decided by :mod:`.eviction` (requests per megabyte, aged; ties by recency): on a Zipf trace of
brands it keeps what an LRU keeps only by luck (``lora-lab bench brand-cache`` compares it with Belady's
offline optimum and with an LRU on the same trace).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from ..lora_format import FamilyInfo, LoraFileError, family_of, load_tensors
from .config import CacheConfig
from .eviction import FrequencyPolicy

TIMING_WINDOW = 1000  # most recent load/hit durations kept for percentiles


@dataclass(frozen=True)
class FileKey:
    path: str
    size: int
    mtime_ns: int


@dataclass
class CachedLora:
    key: FileKey
    tensors: dict
    metadata: dict[str, str]
    nbytes: int
    load_seconds: float
    family: FamilyInfo
    hits: int = 0


@dataclass(frozen=True)
class Lookup:
    """What :meth:`LoraCache.get` returns: the entry, whether it came from memory, and how long it took."""

    lora: CachedLora
    hit: bool
    seconds: float


def file_key(path: str | os.PathLike[str]) -> FileKey:
    """Identity of a file's current content as far as stat can tell; LoraFileError if it is gone."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise LoraFileError(path, "file not found (deleted or moved?)") from None
    except OSError as exc:
        raise LoraFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    return FileKey(os.fspath(path), stat.st_size, stat.st_mtime_ns)


def load_entry(key: FileKey, loader: Callable = load_tensors) -> CachedLora:
    start = time.perf_counter()
    tensors, metadata = loader(key.path)
    nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
    family = family_of(metadata, {name: tuple(t.shape) for name, t in tensors.items()})
    return CachedLora(key, tensors, metadata, nbytes, time.perf_counter() - start, family)


def _ms(ordered: list[float], q: float) -> float:
    """The q-quantile (0-1, nearest rank) of sorted seconds, in milliseconds."""
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 4)


def _percentiles(values: deque) -> dict[str, float | None]:
    if not values:
        return {"count": 0, "mean_ms": None, "p50_ms": None, "p95_ms": None, "max_ms": None}
    ordered = sorted(values)
    return {"count": len(ordered), "mean_ms": round(sum(ordered) / len(ordered) * 1000, 4),
            "p50_ms": _ms(ordered, 0.5), "p95_ms": _ms(ordered, 0.95), "max_ms": _ms(ordered, 1.0)}


@dataclass
class Counters:
    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    loads: int = 0
    preloaded: int = 0
    evictions: int = 0
    invalidations: int = 0
    oversize: int = 0
    errors: int = 0
    clears: int = 0


@dataclass
class LoraCache:
    """One per process (``Lab.brands.cache``): the node and the routes share it."""

    config: CacheConfig = field(default_factory=CacheConfig)
    loader: Callable = load_tensors
    counters: Counters = field(default_factory=Counters, init=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[FileKey, CachedLora] = OrderedDict()
        self._by_path: dict[str, FileKey] = {}
        self._inflight: dict[FileKey, Future] = {}
        self._bytes = 0
        self._policy = FrequencyPolicy()
        self._load_times: deque = deque(maxlen=TIMING_WINDOW)
        self._hit_times: deque = deque(maxlen=TIMING_WINDOW)

    def get(self, path: str | os.PathLike[str]) -> Lookup:
        """The LoRA at ``path`` from memory if its size and mtime are unchanged, else loaded (and kept)."""
        start = time.perf_counter()
        try:
            key = file_key(path)
        except LoraFileError:
            with self._lock:
                self._forget(os.fspath(path))
                self.counters.misses += 1
                self.counters.errors += 1
            raise
        if not self.config.enabled:
            return Lookup(self._load(key, count_miss=True), False, time.perf_counter() - start)
        with self._lock:
            self._policy.requested(key.path)
            entry = self._entries.get(key)
            if entry is not None:
                return self._hit(entry, start)
            future, owner = self._claim(key)
            if owner:
                self.counters.misses += 1
        if owner:
            return Lookup(self._load_shared(key, future), False, time.perf_counter() - start)
        return self._wait(future, start)

    def _hit(self, entry: CachedLora, start: float) -> Lookup:
        self._entries.move_to_end(entry.key)
        entry.hits += 1
        self.counters.hits += 1
        seconds = time.perf_counter() - start
        self._hit_times.append(seconds)
        return Lookup(entry, True, seconds)

    def _claim(self, key: FileKey) -> tuple[Future, bool]:
        """(future for ``key``'s load, True if this caller must do the load); drops a stale version first."""
        self._forget(key.path, keep=key)
        future = self._inflight.get(key)
        if future is not None:
            return future, False
        future = self._inflight[key] = Future()
        return future, True

    def _wait(self, future: Future, start: float) -> Lookup:
        try:
            entry = future.result()
        except Exception:
            with self._lock:
                self.counters.misses += 1
            raise
        with self._lock:
            self.counters.hits += 1
            self.counters.coalesced += 1
        return Lookup(entry, True, time.perf_counter() - start)

    def _load(self, key: FileKey, count_miss: bool = False) -> CachedLora:
        try:
            entry = load_entry(key, self.loader)
        except Exception:
            with self._lock:
                self.counters.errors += 1
                self.counters.misses += count_miss
            raise
        with self._lock:
            self.counters.loads += 1
            self.counters.misses += count_miss
            self._load_times.append(entry.load_seconds)
        return entry

    def _load_shared(self, key: FileKey, future: Future) -> CachedLora:
        try:
            entry = self._load(key)
        except BaseException as exc:
            with self._lock:
                self._inflight.pop(key, None)
            future.set_exception(exc)
            raise
        with self._lock:
            self._inflight.pop(key, None)
            self._insert(entry)
        future.set_result(entry)
        return entry

    def _insert(self, entry: CachedLora) -> None:
        if entry.nbytes > self.config.max_bytes:
            self.counters.oversize += 1  # served, but never resident: it alone would break the budget
            return
        self._entries[entry.key] = entry
        self._by_path[entry.key.path] = entry.key
        self._bytes += entry.nbytes
        while len(self._entries) > self.config.max_entries or self._bytes > self.config.max_bytes:
            self._remove(self._policy.victim((k, k.path, e.nbytes) for k, e in self._entries.items()))
            self.counters.evictions += 1

    def _remove(self, key: FileKey) -> None:
        entry = self._entries.pop(key)
        self._bytes -= entry.nbytes
        if self._by_path.get(key.path) == key:
            del self._by_path[key.path]

    def _forget(self, path: str, keep: FileKey | None = None) -> None:
        """Drop the entry cached for ``path`` unless it is ``keep`` (the file changed or disappeared)."""
        old = self._by_path.get(path)
        if old is not None and old != keep:
            self._remove(old)
            self.counters.invalidations += 1

    def preload(self, path: str | os.PathLike[str]) -> bool:
        """Load ``path`` into the cache without counting a request; False if it was already there."""
        if not self.config.enabled:
            return False
        key = file_key(path)
        with self._lock:
            if key in self._entries:
                return False
            future, owner = self._claim(key)
        if not owner:
            future.result()
            return False
        self._load_shared(key, future)
        with self._lock:
            self.counters.preloaded += 1
        return True

    def clear(self) -> dict[str, int]:
        with self._lock:
            cleared = {"entries_cleared": len(self._entries), "bytes_freed": self._bytes}
            self._entries.clear()
            self._by_path.clear()
            self._bytes = 0
            self.counters.clears += 1
        return cleared

    def snapshot(self) -> dict:
        """Counters, sizes and hit rate (cheap enough to check after every request)."""
        with self._lock:
            counters = dict(self.counters.__dict__)
            requests = counters["hits"] + counters["misses"]
            return {
                "enabled": self.config.enabled, "entries": len(self._entries), "max_entries": self.config.max_entries,
                "bytes_resident": self._bytes, "max_bytes": self.config.max_bytes, **counters,
                "requests": requests, "hit_rate": round(counters["hits"] / requests, 4) if requests else None,
            }

    def stats(self) -> dict:
        """:meth:`snapshot` plus load/hit timing percentiles and the resident entries (oldest first)."""
        with self._lock:
            resident = [{"path": e.key.path, "bytes": e.nbytes, "hits": e.hits, "family": e.family.family,
                         "load_ms": round(e.load_seconds * 1000, 3)} for e in self._entries.values()]
            timings = {"load_timings": _percentiles(self._load_times), "hit_timings": _percentiles(self._hit_times)}
        return {**self.snapshot(), **timings, "resident": resident}

    def cached_paths(self) -> list[Path]:
        with self._lock:
            return [Path(key.path) for key in self._entries]


def counters_balanced(stats: Mapping, requests: int) -> bool:
    """The invariants the benchmark checks after every request."""
    return (stats["hits"] + stats["misses"] == requests and stats["bytes_resident"] <= stats["max_bytes"]
            and stats["entries"] <= stats["max_entries"])
