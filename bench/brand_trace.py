"""The brand-cache benchmark's trace, listing and preload parts (see ``bench/brand_cache.py``)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from pathlib import Path

from .brand_files import write_lora, write_tiny_library
from .brand_optimal import lru_hit_rate, optimal_hit_rate
from .timing import median, percentile

ROLES = ("style", "product", "photography")
PRELOAD_REPEATS = 3
TIMED_PREFIX = 300  # requests replayed with real file loads (a miss reads ~800 tensors: ~20-30 ms here)


def _library(root: Path, rng, brands: int, sizes: list[int]) -> dict[str, list[Path]]:
    """Brand folders with 1-3 LoRAs each, sizes drawn from ``sizes`` (copies of one file per size)."""
    templates = {size: root / f".template_{size}.safetensors" for size in sizes}
    for size, path in templates.items():
        write_lora(path, size, seed=size)
    files = {}
    for index in range(brands):
        brand = f"brand_{index:03d}"
        files[brand] = []
        for role in ROLES[:rng.randint(1, 3)]:
            target = root / "brands" / brand / f"{role}.safetensors"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(templates[rng.choice(sizes)], target)
            files[brand].append(target)
    for path in templates.values():
        path.unlink()
    return files


def _resolved(root: Path, files: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """The same files, found through the brand library (so the trace uses what the node would load)."""
    from ..engines.brands.ids import BrandRef
    from ..engines.brands.library import BrandLibrary
    from ..engines.brands.scan import BrandRoot

    library = BrandLibrary(lambda: [BrandRoot(root / "brands", "brands")])
    return {brand: [library.resolve(BrandRef(brand, path.stem)).file.path for path in paths]
            for brand, paths in files.items()}


def _replay(cache, trace: list[str], files: dict[str, list[Path]]) -> dict:
    """Every request gets each LoRA of its brand; the counters are checked after every request."""
    from ..engines.brands.cache import counters_balanced

    gets = brand_hits = 0
    balanced = True
    start = time.perf_counter()
    for brand in trace:
        hits = [cache.get(path).hit for path in files[brand]]
        gets += len(hits)
        brand_hits += all(hits)
        balanced &= counters_balanced(cache.snapshot(), gets)
    seconds = time.perf_counter() - start
    snap = cache.snapshot()
    expected_evictions = snap["misses"] - snap["entries"] - snap["oversize"] - snap["errors"] if snap["enabled"] else 0
    balanced &= snap["evictions"] == expected_evictions
    return {"hit_rate": round(snap["hits"] / gets, 4), "request_hit_rate": round(brand_hits / len(trace), 4),
            "hits": snap["hits"], "misses": snap["misses"], "evictions": snap["evictions"], "lookups": gets,
            "max_bytes_resident_ok": snap["bytes_resident"] <= snap["max_bytes"], "counters_balanced": balanced,
            "seconds": round(seconds, 2), "ms_per_request": round(seconds / len(trace) * 1000, 3)}


def _size_only_loader(sizes: dict[str, int]):
    """A loader with the real byte size but no disk read (torch.empty does not touch the memory): the same
    cache class and policy, for the policy-only replays that would otherwise read 20 GB."""
    import torch

    return lambda path: ({"weight": torch.empty(sizes[str(path)], dtype=torch.uint8)}, {})


def _static_optimal(trace: list[str], nbytes: dict[str, int], budget: int) -> float:
    """The best fixed set of ``budget`` bytes (by lookups per byte), minus first misses: what a cache that
    knew the popularity but not the order would reach."""
    counts = Counter(trace)
    chosen, used = 0, 0
    for name, count in sorted(counts.items(), key=lambda item: item[1] / nbytes[item[0]], reverse=True):
        if used + nbytes[name] <= budget:
            used += nbytes[name]
            chosen += count - 1
    return round(chosen / len(trace), 4)


def run_trace(root: Path, rng, brands: int, requests: int, zipf: float, budget_fraction: float,
              sizes: list[int]) -> dict:
    from ..engines.brands.cache import LoraCache
    from ..engines.brands.config import CacheConfig
    from ..engines.lora_format import load_tensors

    files = _resolved(root, _library(root, rng, brands, sizes))
    nbytes = {str(p): sum(t.numel() * t.element_size() for t in load_tensors(p)[0].values())
              for paths in files.values() for p in paths}
    library_bytes = sum(nbytes.values())
    budget = int(library_bytes * budget_fraction)
    order = list(files)
    rng.shuffle(order)  # popularity rank is independent of size and of the number of LoRAs
    trace = rng.choices(order, weights=[1 / (rank + 1) ** zipf for rank in range(len(order))], k=requests)
    lookups = [str(path) for brand in trace for path in files[brand]]
    fake = _size_only_loader(nbytes)
    configs = {"cache": CacheConfig(max_entries=100_000, max_bytes=budget),
               "one_entry": CacheConfig(max_entries=1, max_bytes=library_bytes),
               "no_cache": CacheConfig(enabled=False)}
    result = {name: _replay(LoraCache(config, loader=fake), trace, files) for name, config in configs.items()}
    for name, config in configs.items():  # the same policies with real file loads, on a prefix: wall time
        timed = _replay(LoraCache(config), trace[:TIMED_PREFIX], files)
        result[name]["real_loads_prefix"] = {key: timed[key] for key in ("hit_rate", "ms_per_request",
                                                                         "counters_balanced")}
    sweep = {}
    for fraction in (0.1, 0.2, 0.3, 0.4, 0.5):
        size = int(library_bytes * fraction)
        cache = _replay(LoraCache(CacheConfig(max_entries=100_000, max_bytes=size), loader=fake), trace, files)
        sweep[f"{fraction:.0%}"] = {"cache": cache["hit_rate"], "lru": round(lru_hit_rate(lookups, nbytes, size), 4),
                                    "optimal": round(optimal_hit_rate(lookups, nbytes, size), 4)}
    optimal = optimal_hit_rate(lookups, nbytes, budget)
    return {**result, "library_files": len(nbytes), "library_mb": round(library_bytes / 2**20, 1),
            "budget_mb": round(budget / 2**20, 1), "optimal_hit_rate": round(optimal, 4),
            "hit_rate_vs_optimal": round(result["cache"]["hit_rate"] / optimal, 4),
            "lru_hit_rate": round(lru_hit_rate(lookups, nbytes, budget), 4),
            "static_optimal_hit_rate": _static_optimal(lookups, nbytes, budget), "hit_rate_by_budget": sweep}


async def _timed_gets(client, path: str, count: int, headers: dict | None = None) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = await client.get(path, headers=headers or {})
        await response.read()
        assert response.status in (200, 304), (path, response.status)
        times.append(time.perf_counter() - start)
    return times


async def _list_requests(services, count: int) -> dict:
    from aiohttp.test_utils import TestClient, TestServer

    from ..server_routes.app import build_app

    async with TestClient(TestServer(build_app(services))) as client:
        cold = await _timed_gets(client, "/lora/list", 1)
        warm = await _timed_gets(client, "/lora/list", count)
        meta_cold = await _timed_gets(client, "/lora/brand_0000/metadata", 1)
        meta = await _timed_gets(client, "/lora/brand_0001/metadata", count)
        response = await client.get("/lora/brand_0001/metadata")
        not_modified = await _timed_gets(client, "/lora/brand_0001/metadata", count,
                                         {"If-None-Match": response.headers["ETag"]})
    ms = lambda values, q: round(percentile(values, q) * 1000, 2)  # noqa: E731
    return {"list_cold_ms": ms(cold, 50), "list_p50_ms": ms(warm, 50), "list_p95_ms": ms(warm, 95),
            "metadata_cold_ms": ms(meta_cold, 50), "metadata_p95_ms": ms(meta, 95),
            "metadata_304_p95_ms": ms(not_modified, 95)}


def list_timings(root: Path, brands: int, requests: int = 200) -> dict:
    """``GET /lora/list`` and ``/lora/{id}/metadata`` through aiohttp on a library of ``brands`` x 3 files."""
    from ..engines.lab import Lab

    write_tiny_library(root / "loras" / "brands", brands)
    services = Lab(data_dir=root / "data", lora_dirs=lambda: [root / "loras"])
    return {"brands": brands, "files": brands * len(ROLES), **asyncio.run(_list_requests(services, requests))}


def preload_timings(root: Path, brands: int = 50, size: int = 2 * 2**20) -> dict:
    """How long starting a preload of 0, 1 and ``brands`` brands blocks; then whether first requests hit."""
    from ..engines.brands import BrandService
    from ..engines.brands.cache import LoraCache
    from ..engines.brands.config import CacheConfig
    from ..engines.brands.ids import BrandRef
    from ..engines.brands.scan import BrandRoot

    template = root / ".template.safetensors"
    write_lora(template, size)
    for index in range(brands):
        (root / "brands" / f"brand_{index:02d}").mkdir(parents=True)
        shutil.copyfile(template, root / "brands" / f"brand_{index:02d}" / "style.safetensors")
    refs = [BrandRef(f"brand_{index:02d}") for index in range(brands)]
    blocked = {}
    for count in (0, 1, brands):
        times = []
        for _ in range(PRELOAD_REPEATS):
            service = BrandService(lambda: [BrandRoot(root / "brands", "brands")],
                                   LoraCache(CacheConfig(max_entries=brands)))
            start = time.perf_counter()
            service.start_preload(refs[:count])
            times.append(time.perf_counter() - start)
            service.wait_preload(300)
        blocked[count] = round(median(times) * 1000, 3)
    first = [service.cache.get(service.library.resolve(ref).file.path).hit for ref in refs]
    return {"start_blocks_ms": blocked, "preload_seconds": service.stats()["preload"]["seconds"],
            "first_request_hit_rate": sum(first) / len(first)}
