"""Brand LoRA cache: hit vs miss latency, hit rate on a Zipf trace, counter balance, /lora/list speed, preload.

All in one run, each against a reference measured in the same run:

1. Latency: LoRAs of 20 MB and 200 MB (real SD1.5 kohya layout); a miss is a full safetensors load into CPU
   tensors (page cache warm, and cold after ``posix_fadvise(DONTNEED)``), a hit is the cache lookup.
2. Trace: 10,000 requests over 200 brands (1-3 LoRAs each, mixed sizes), brand popularity Zipf(1.1); every
   request gets each LoRA of its brand. The byte budget is 10% of the library. The same trace runs with
   this cache, a one-entry cache (ComfyUI's LoraLoader) and no cache (a fresh loader per run, rgthree's),
   and the counters are checked after every request. The full replays use the real cache with a loader
   that allocates each file's real byte size without reading it (the policy and the accounting are the
   real ones; 20,000 real loads of ~800-tensor files would take 10 minutes here); the first requests are
   replayed again with real file loads for wall times. References on the same trace and budget
   (``bench/brand_optimal.py``): Belady's clairvoyant eviction (the offline optimum; ``hit_rate_vs_optimal``
   is this cache's hit rate over it), a plain LRU (the eviction this cache had before), and the best fixed
   set of files.
3. ``GET /lora/list`` for 1,000 brands x 3 files through aiohttp, and ``/lora/{id}/metadata`` warm.
4. ``LORA_PRELOAD_BRANDS`` with 50 brands: how long starting it blocks, and whether the first request hits.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

from .brand_files import write_lora
from .brand_trace import list_timings, preload_timings, run_trace
from .timing import median, percentile

# Issue 7: hit p99 <= 1 ms, miss/hit >= 100x, counters balance, /lora/list p95 <= 50 ms for 1,000 brands.
# Issue 18 replaced issue 7's absolute hit rate (0.85, above what any cache of this budget reaches on the
# trace) with the hit rate against the offline optimum (Belady) of the same trace and capacity.
GOALS = {"hit_p99_ms": ("<=", 1.0), "miss_hit_ratio": (">=", 100.0), "counters_balanced": ("==", True),
         "list_p95_ms": ("<=", 50.0), "hit_rate_vs_optimal": (">=", 0.9)}

MB = 1024 * 1024


def add_arguments(parser) -> None:
    parser.add_argument("--sizes-mb", default="20,200", help="LoRA sizes for the hit/miss latency (MB)")
    parser.add_argument("--hits", type=int, default=2000, help="hit lookups timed per file")
    parser.add_argument("--misses", type=int, default=5, help="misses timed per file (warm and cold each)")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--brands", type=int, default=200)
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--budget", type=float, default=0.10, help="byte budget as a fraction of the library")
    parser.add_argument("--trace-sizes-mb", default="0.28,0.56,1.1,2.3",
                        help="trace LoRA sizes (MB): 1/64 of rank 16/32/64/128 SD1.5 files, to fit the disk")
    parser.add_argument("--list-brands", type=int, default=1000)
    parser.add_argument("--workdir", default=None, help="folder for the synthetic files (a temp dir by default)")
    parser.add_argument("--seed", type=int, default=0)


def _drop_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _latency(folder: Path, size_mb: float, hits: int, misses: int) -> dict:
    from ..engines.brands.cache import LoraCache
    from ..engines.brands.config import CacheConfig

    path = folder / f"latency_{size_mb:g}mb.safetensors"
    file_bytes = write_lora(path, int(size_mb * MB))
    cache = LoraCache(CacheConfig(max_entries=2, max_bytes=4 * 1024**3))
    warm, cold = [], []
    for _ in range(misses):
        cache.clear()
        warm.append(cache.get(path).seconds)
        cache.clear()
        _drop_page_cache(path)
        cold.append(cache.get(path).seconds)
    hit_times = [cache.get(path).seconds for _ in range(hits)]
    cache.clear()
    path.unlink()
    return {"file_mb": round(file_bytes / MB, 1), "miss_warm_ms": round(median(warm) * 1000, 2),
            "miss_cold_ms": round(median(cold) * 1000, 2), "hit_p50_ms": round(median(hit_times) * 1000, 4),
            "hit_p99_ms": round(percentile(hit_times, 99) * 1000, 4),
            "miss_hit_ratio": round(median(warm) / median(hit_times), 1)}


def run(args) -> dict:
    sizes = [float(s) for s in args.sizes_mb.split(",")]
    trace_sizes = [int(float(s) * MB) for s in args.trace_sizes_mb.split(",")]
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="brand-cache-bench-") as tmp:
        folder = Path(tmp)
        latency = {f"{size:g}mb": _latency(folder, size, args.hits, args.misses) for size in sizes}
        start = time.perf_counter()
        trace = run_trace(folder / "trace", random.Random(args.seed), args.brands, args.requests, args.zipf,
                          args.budget, trace_sizes)
        trace_seconds = time.perf_counter() - start
        listing = list_timings(folder / "list", args.list_brands)
        preload = preload_timings(folder / "preload")
    return {
        "hit_p99_ms": max(item["hit_p99_ms"] for item in latency.values()),
        "miss_hit_ratio": min(item["miss_hit_ratio"] for item in latency.values()),
        "latency": latency,
        "hit_rate": trace["cache"]["hit_rate"],
        "hit_rate_vs_optimal": trace["hit_rate_vs_optimal"],
        "optimal_hit_rate": trace["optimal_hit_rate"],
        "lru_hit_rate": trace["lru_hit_rate"],
        "one_entry_hit_rate": trace["one_entry"]["hit_rate"],
        "no_cache_hit_rate": trace["no_cache"]["hit_rate"],
        "static_optimal_hit_rate": trace["static_optimal_hit_rate"],
        "counters_balanced": all(trace[name]["counters_balanced"] for name in ("cache", "one_entry", "no_cache")),
        "trace": trace,
        "trace_seconds": round(trace_seconds, 1),
        "list_p95_ms": listing["list_p95_ms"],
        "listing": listing,
        "preload": preload,
    }
