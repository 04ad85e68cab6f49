"""Thompson sampling over checkpoints: how many drafts each one gets in Explore, which one Quick uses.

Each arm's chance that one of its drafts is picked has a Beta posterior on the discounted,
exposure-normalised evidence of :mod:`.arms`, with a prior centred on the tier's pooled rate (a prior
shared across the pool). Explore splits a batch in proportion to each arm's posterior probability of being
the best raised to the power ``SHARPNESS`` (probability matching, sharpened), computed exactly instead of
drawn, so a batch of 4 is not decided by sampling noise; the sharpened split gives the leader the extra
drafts where plain probability matching would give a close rival as many for as long as the two are hard
to tell apart. An Explore batch compares 2-3 arms: the leader; the *rival*, the other arm whose pick rate
could most plausibly be high (highest posterior mean + ``RIVAL_OPTIMISM`` standard deviations); and a
third arm when its share is worth a draft. The rival is chosen by that upper bound, not by its chance of
being the best: an arm that had an unlucky start (few drafts, a low estimate) is otherwise never shown
again while two close arms take turns as leader and rival, and the forced rival draft is the batch's
exploration anyway (``bench/explorer.py`` measured both). An exploration floor adds any arm that has fewer
than ``min_exposures`` drafts shown and has not been shown for ``floor_period - 1`` batches. Quick uses the best posterior mean once every arm has
``min_exposures`` drafts shown, otherwise the tier's default. The same history always gives the same plan;
the seed only sets the drafts' seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arms import ArmTable
from .config import PolicyConfig

GRID = 512  # integration points for the win probabilities
SHARPNESS = 4.0  # exponent on the win probabilities when the drafts are split
RIVAL_OPTIMISM = 2.0  # standard deviations above the mean by which the rival is chosen


@dataclass(frozen=True)
class Allocation:
    """Drafts per arm (pool order), why each arm is in the batch, and the arms' win probabilities."""

    counts: tuple[int, ...]
    reasons: tuple[str, ...]
    win_probability: tuple[float, ...]


def beta_parameters(table: ArmTable, config: PolicyConfig) -> tuple[np.ndarray, np.ndarray]:
    """Posterior Beta(a, b) of each arm's pick rate; the prior is centred on the tier's pooled rate."""
    pooled = (table.picks.sum() + 1.0) / (table.shown.sum() + 2.0)
    misses = np.maximum(table.shown - table.picks, 0.0)
    return config.prior_strength * pooled + table.picks, config.prior_strength * (1.0 - pooled) + misses


def posterior_means(table: ArmTable, config: PolicyConfig) -> np.ndarray:
    a, b = beta_parameters(table, config)
    return a / (a + b)


def win_probabilities(table: ArmTable, config: PolicyConfig) -> np.ndarray:
    """Each arm's posterior probability of having the highest pick rate.

    ``P(k best) = integral of pdf_k(x) * prod_{j != k} cdf_j(x) dx``, by the midpoint rule on a grid that
    spans every arm's posterior (+-10 standard deviations): exact where Monte Carlo draws would add noise
    that decides whole drafts in a small batch (and would split an uninformed tier 8/6/6 instead of 7/7/6).
    """
    a, b = beta_parameters(table, config)
    mean, sd = a / (a + b), np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    lo, hi = max(0.0, float(np.min(mean - 10 * sd))), min(1.0, float(np.max(mean + 10 * sd)))
    x = lo + (np.arange(GRID) + 0.5) * (hi - lo) / GRID
    log_pdf = (a[:, None] - 1) * np.log(x) + (b[:, None] - 1) * np.log1p(-x)
    pdf = np.exp(log_pdf - log_pdf.max(axis=1, keepdims=True))
    pdf /= pdf.sum(axis=1, keepdims=True)
    log_cdf = np.log(np.maximum(np.cumsum(pdf, axis=1) - 0.5 * pdf, 1e-300))
    rest = log_cdf.sum(axis=0, keepdims=True) - log_cdf
    return _normalised((pdf * np.exp(rest)).sum(axis=1))


def upper_bounds(table: ArmTable, config: PolicyConfig) -> np.ndarray:
    """Posterior mean plus ``RIVAL_OPTIMISM`` standard deviations of each arm's pick rate."""
    a, b = beta_parameters(table, config)
    return a / (a + b) + RIVAL_OPTIMISM * np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))


def _normalised(values: np.ndarray) -> np.ndarray:
    total = values.sum()
    return values / total if total > 0 else np.full(len(values), 1.0 / len(values))


def floor_arms(table: ArmTable, config: PolicyConfig) -> list[int]:
    """Under-exposed arms that have waited ``floor_period - 1`` batches, least exposed first."""
    due = (table.exposures < config.min_exposures) & (table.idle >= config.floor_period - 1)
    return sorted(np.flatnonzero(due).tolist(), key=lambda i: (table.exposures[i], i))


def _pick_arms(wins: np.ndarray, upper: np.ndarray, forced: list[int], count: int,
               config: PolicyConfig) -> list[tuple[int, str]]:
    leader = int(np.argmax(wins))
    chosen = [(leader, "leader")]
    for arm in forced:
        if len(chosen) < config.max_arms and arm != leader:
            chosen.append((arm, "floor"))
    while len(chosen) < config.min_arms and len(chosen) < len(wins):
        taken = [i for i, _ in chosen]
        chosen.append((int(np.argmax(np.where(np.isin(np.arange(len(wins)), taken), -np.inf, upper))), "rival"))
    for arm in (int(i) for i in np.argsort(-wins, kind="stable")):
        if len(chosen) < config.max_arms and arm not in dict(chosen) and wins[arm] * count >= 1.0:
            chosen.append((arm, "share"))
    return chosen[:max(1, min(count, config.max_arms))]


def spread(count: int, arms: list[int], weights: np.ndarray, size: int) -> np.ndarray:
    """One draft for each chosen arm, the rest by largest remainder of ``weights`` (restricted to them)."""
    counts = np.zeros(size, dtype=np.int64)
    counts[arms] = 1
    rest = count - len(arms)
    if rest <= 0:
        return counts
    share = np.array([weights[i] for i in arms], dtype=float)
    share = share / share.sum() if share.sum() > 0 else np.full(len(arms), 1.0 / len(arms))
    ideal = share * rest
    extra = np.floor(ideal).astype(np.int64)
    order = sorted(range(len(arms)), key=lambda j: (-(ideal[j] - extra[j]), j))
    for j in order[:rest - int(extra.sum())]:
        extra[j] += 1
    counts[arms] += extra
    return counts


def explore(table: ArmTable, count: int, config: PolicyConfig) -> Allocation:
    """Split ``count`` drafts over 2-3 arms of the tier."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    wins = win_probabilities(table, config)
    chosen = _pick_arms(wins, upper_bounds(table, config), floor_arms(table, config), count, config)
    arms = [arm for arm, _ in chosen]
    counts = spread(count, arms, wins ** SHARPNESS + 1e-12, len(table.names))
    reasons = tuple(dict(chosen).get(i, "") for i in range(len(table.names)))
    return Allocation(tuple(int(c) for c in counts), reasons, tuple(float(w) for w in wins))


def quick(table: ArmTable, count: int, config: PolicyConfig, default: int) -> Allocation:
    """All drafts on the best posterior mean once every arm has enough exposures, else on the default."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    ready = bool(np.all(table.exposures >= config.min_exposures))
    best = int(np.argmax(posterior_means(table, config))) if ready else default
    counts = [0] * len(table.names)
    counts[best] = count
    reasons = tuple(("best" if ready else "default") if i == best else "" for i in range(len(table.names)))
    return Allocation(tuple(counts), reasons, tuple(0.0 for _ in table.names))
