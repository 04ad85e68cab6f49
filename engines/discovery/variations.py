"""Seeded batch variations: N combinations sampled from each concept's candidates (Stylus-style masking).

Variant 0 is always the deterministic top choice. Each further variant picks, per concept, the leader or
one of its alternatives (weighted by relevance squared) and, when there is more than one concept, drops a
concept with probability ``MASK_PROBABILITY`` (at least one concept stays). Up to ``DISTINCT_TRIES``
samples are drawn to find a combination not yet used, so a batch of 4 gets different combinations when
the candidates allow it. The same seed always gives the same variants.
"""

from __future__ import annotations

import random

from .scoring import Candidate
from .selection import Choice

MASK_PROBABILITY = 0.25
MAX_ALTERNATIVES = 3
DISTINCT_TRIES = 20

Combination = tuple[tuple[Candidate, float, list[str]], ...]  # (candidate, relevance, concept) per concept kept


def _leaders(choices: list[Choice]) -> Combination:
    return tuple((c.candidate, c.relevance, c.concept) for c in choices)


def _sample(choices: list[Choice], rng: random.Random) -> Combination:
    kept = []
    for choice in choices:
        if len(choices) > 1 and rng.random() < MASK_PROBABILITY:
            continue
        options = [(choice.candidate, choice.relevance)] + choice.alternatives[:MAX_ALTERNATIVES]
        weights = [max(relevance, 1e-6) ** 2 for _, relevance in options]
        candidate, relevance = rng.choices(options, weights=weights, k=1)[0]
        kept.append((candidate, relevance, choice.concept))
    if not kept:
        best = choices[0]
        kept.append((best.candidate, best.relevance, best.concept))
    return tuple(kept)


def _key(combination: Combination) -> tuple[int, ...]:
    return tuple(sorted(candidate.entry_id for candidate, _, _ in combination))


def combinations(choices: list[Choice], count: int, seed: int) -> list[Combination]:
    """``count`` combinations; the first is the top choice, the rest are seeded samples, distinct when possible."""
    if not choices:
        return [()] * count
    rng = random.Random(seed)
    out = [_leaders(choices)]
    used = {_key(out[0])}
    while len(out) < count:
        sample = _sample(choices, rng)
        for _ in range(DISTINCT_TRIES):
            if _key(sample) not in used:
                break
            sample = _sample(choices, rng)
        used.add(_key(sample))
        out.append(sample)
    return out
