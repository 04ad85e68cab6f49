"""Eviction against Belady's clairvoyant optimum on small traces, and against a plain LRU."""

from __future__ import annotations

import random

import pytest
import torch

from comfyui_lora_lab.bench.brand_optimal import belady_hits, lru_hit_rate, optimal_hit_rate
from comfyui_lora_lab.engines.brands.cache import LoraCache
from comfyui_lora_lab.engines.brands.config import CacheConfig
from comfyui_lora_lab.engines.brands.eviction import FrequencyPolicy

MB = 1024 * 1024


def _exhaustive_best(trace: list[str], capacity: int) -> int:
    """The true optimum for equal sizes, by trying every choice of what to keep after each miss."""
    best = {frozenset(): 0}
    for name in trace:
        after: dict[frozenset, int] = {}
        for held, hits in best.items():
            if name in held:
                options = [(held, hits + 1)]
            else:
                grown = held | {name}
                options = [(held, hits)] + ([(grown, hits)] if len(grown) <= capacity else
                                            [(grown - {out}, hits) for out in grown])
            for state, value in options:
                after[state] = max(after.get(state, -1), value)
        best = after
    return max(best.values())


@pytest.mark.parametrize("seed", range(8))
def test_belady_is_the_exact_optimum_for_equal_sizes(seed):
    rng = random.Random(seed)
    trace = [rng.choice("abcde") for _ in range(14)]
    sizes = dict.fromkeys("abcde", 1)
    assert belady_hits(trace, sizes, 2) == _exhaustive_best(trace, 2)


def _zipf_trace(rng: random.Random, files: int, length: int, exponent: float = 1.1) -> list[str]:
    names = [f"f{i:03d}" for i in range(files)]
    return rng.choices(names, weights=[1 / (rank + 1) ** exponent for rank in range(files)], k=length)


def _replay(tmp_path, trace: list[str], sizes: dict[str, int], budget: int) -> float:
    """The real cache (byte-sized stand-in tensors, real files for the stat key) on ``trace``: its hit rate."""
    paths = {}
    for name in sizes:
        paths[name] = tmp_path / f"{name}.safetensors"
        paths[name].touch()
    loader = {str(paths[n]): n for n in sizes}
    cache = LoraCache(CacheConfig(max_entries=10_000, max_bytes=budget),
                      loader=lambda path: ({"w": torch.empty(sizes[loader[str(path)]], dtype=torch.uint8)}, {}))
    hits = sum(cache.get(paths[name]).hit for name in trace)
    snap = cache.snapshot()
    assert snap["bytes_resident"] <= budget and snap["evictions"] == snap["misses"] - snap["entries"]
    return hits / len(trace)


@pytest.mark.parametrize("seed", range(4))
def test_on_a_small_zipf_trace_the_cache_reaches_most_of_the_optimum_and_beats_lru(tmp_path, seed):
    rng = random.Random(seed)
    sizes = {f"f{i:03d}": rng.choice([1, 2, 4, 8]) * MB for i in range(60)}
    trace = _zipf_trace(rng, 60, 3000)
    budget = int(sum(sizes.values()) * 0.1)
    ours, optimal = _replay(tmp_path, trace, sizes, budget), optimal_hit_rate(trace, sizes, budget)
    assert ours <= optimal + 1e-9
    assert ours / optimal >= 0.85, (ours, optimal)
    assert ours > lru_hit_rate(trace, sizes, budget) + 0.03


def test_equal_sizes_keep_the_popular_files_through_a_scan_of_one_offs(tmp_path):
    popular = ["p0", "p1", "p2"] * 30
    scan = [f"once{i}" for i in range(30)]
    trace = popular[:30] + scan + popular[30:]
    sizes = {name: MB for name in set(trace)}
    ours = _replay(tmp_path, trace, sizes, 3 * MB)
    assert ours == pytest.approx((len(popular) - 3) / len(trace))  # only the first request of each misses
    assert lru_hit_rate(trace, sizes, 3 * MB) < ours


def test_a_change_of_popularity_is_followed_after_aging():
    policy = FrequencyPolicy()
    for _ in range(200):
        policy.requested("old")
    for _ in range(5000):
        policy.requested("new")
    assert policy.density("new", MB) > policy.density("old", MB)
    assert policy.victim([("a", "old", MB), ("b", "new", MB)]) == "a"


def test_ties_go_to_the_least_recent_and_size_counts():
    policy = FrequencyPolicy()
    for path in ("a", "b", "big", "big"):
        policy.requested(path)
    assert policy.victim([("a", "a", MB), ("b", "b", MB)]) == "a"
    assert policy.victim([("a", "a", MB), ("big", "big", 4 * MB)]) == "big"  # 2 requests for 4 MB < 1 per MB


def test_the_budget_sweep_orders_lru_cache_optimum(tmp_path):
    rng = random.Random(7)
    sizes = {f"f{i:03d}": rng.choice([1, 4]) * MB for i in range(40)}
    trace = _zipf_trace(rng, 40, 1500)
    for fraction in (0.1, 0.3):
        budget = int(sum(sizes.values()) * fraction)
        lru, ours = lru_hit_rate(trace, sizes, budget), _replay(tmp_path, trace, sizes, budget)
        assert lru <= ours <= optimal_hit_rate(trace, sizes, budget)
