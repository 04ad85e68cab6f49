"""Offline references for the brand cache: Belady's clairvoyant eviction and a plain LRU, on a trace of files.

Belady (MIN): on a miss that overflows the byte budget, evict the resident file whose next request is
farthest in the future, or refuse the newcomer when its own next request is the farthest (bypass). For
equal sizes this is the exact offline optimum of the hit rate. For files of different sizes the exact
optimum is NP-hard, so the reference is the better of two clairvoyant rules on the same trace: farthest
next request, and farthest next request x size (which frees room for more files per eviction). No online
policy knows the future, so a cache's hit rate divided by this reference is how much of the reachable hit
rate it reaches (``hit_rate_vs_optimal``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

NEVER = float("inf")


def next_uses(trace: Sequence[str]) -> list[float]:
    """For each position, the position of the next request for the same file (inf when none)."""
    following: dict[str, float] = {}
    out = [NEVER] * len(trace)
    for index in range(len(trace) - 1, -1, -1):
        out[index] = following.get(trace[index], NEVER)
        following[trace[index]] = index
    return out


def belady_hits(trace: Sequence[str], sizes: dict[str, int], budget: int, size_aware: bool = False) -> int:
    """Hits of the clairvoyant cache; ``size_aware`` ranks victims by distance to next request x size."""
    upcoming = next_uses(trace)
    resident: dict[str, float] = {}
    used = hits = 0
    for index, name in enumerate(trace):
        if name in resident:
            hits += 1
            resident[name] = upcoming[index]
            continue
        size = sizes[name]
        if size > budget:
            continue
        resident[name] = upcoming[index]
        used += size
        while used > budget:
            victim = max(resident, key=lambda n: _score(resident[n], index, sizes[n], size_aware))
            used -= sizes[victim]
            del resident[victim]
    return hits


def _score(next_use: float, now: int, size: int, size_aware: bool) -> float:
    distance = next_use - now
    return distance * size if size_aware else distance


def optimal_hit_rate(trace: Sequence[str], sizes: dict[str, int], budget: int) -> float:
    """The better of the two clairvoyant rules (see the module docstring)."""
    if not trace:
        return 0.0
    best = max(belady_hits(trace, sizes, budget, size_aware) for size_aware in (False, True))
    return best / len(trace)


def lru_hit_rate(trace: Sequence[str], sizes: dict[str, int], budget: int) -> float:
    """A plain byte-budgeted LRU (what the cache did before its frequency-aware eviction), for reference."""
    resident: OrderedDict[str, int] = OrderedDict()
    used = hits = 0
    for name in trace:
        if name in resident:
            hits += 1
            resident.move_to_end(name)
            continue
        if sizes[name] > budget:
            continue
        resident[name] = sizes[name]
        used += sizes[name]
        while used > budget:
            used -= resident.popitem(last=False)[1]
    return hits / len(trace) if trace else 0.0
