"""Which cached LoRA to evict: the fewest recent requests per megabyte (size-aware LFU with aging).

An LRU evicts by recency alone, so on a skewed (Zipf) mix of brands a run of rare brands pushes out the
popular ones, and a 200 MB LoRA takes the room of ten 20 MB ones asked for just as often. Here, when an
insertion overflows the budget, the entry with the fewest requests per megabyte leaves, the newcomer
included (a newcomer that is the least requested per megabyte is evicted at once: that is how a one-off
is refused room). Requests are counted per path, for files not resident too, so a file that keeps coming
back gets in; every count is halved each ``AGING_FACTOR`` x (paths tracked) requests, so a change of
popularity is followed (TinyLFU's reset). Ties go to the least recently used entry. Counting is a dict
update on every request; choosing a victim scans the resident entries, only after a miss's disk read.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

AGING_FACTOR = 10
MIN_AGING_WINDOW = 256
MAX_TRACKED_PATHS = 100_000
MEGABYTE = 1024 * 1024


class FrequencyPolicy:
    """Aged request counts per path; the victim is the resident entry with the fewest per megabyte."""

    def __init__(self) -> None:
        self.counts: dict[str, float] = {}
        self._since_aging = 0

    def requested(self, path: str) -> None:
        """Count one request for ``path`` (a hit or a miss), halving every count when the window is full."""
        self.counts[path] = self.counts.get(path, 0.0) + 1.0
        self._since_aging += 1
        window = max(MIN_AGING_WINDOW, AGING_FACTOR * len(self.counts))
        if self._since_aging >= window or len(self.counts) > MAX_TRACKED_PATHS:
            self.counts = {p: c / 2 for p, c in self.counts.items() if c >= 1.0}
            self._since_aging = 0

    def density(self, path: str, nbytes: int) -> float:
        """Recent requests per megabyte of ``path``: what an entry is worth for the room it takes."""
        return self.counts.get(path, 0.0) / max(nbytes / MEGABYTE, 1e-6)

    def victim(self, entries_oldest_first: Iterable[tuple[Hashable, str, int]]) -> Hashable:
        """Of ``(key, path, nbytes)`` in recency order, the key of least density (the least recent of equals)."""
        best_key, best = None, float("inf")
        for key, path, nbytes in entries_oldest_first:
            value = self.density(path, nbytes)
            if value < best:
                best_key, best = key, value
        return best_key
