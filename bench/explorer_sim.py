"""Simulated users and policies for ``bench/explorer.py``.

A user has hidden utilities ``u`` per checkpoint and picks among the drafts shown by Plackett-Luce: draft
``d`` of checkpoint ``k`` is the pick with probability ``exp(u_k) / sum over shown drafts of exp(u)``.
Regret of a round is the utility lost per draft, ``sum over drafts of (max(u) - u_k)``. Every policy
allocates the same batch size and sees the same user; ours is the product code (:mod:`engines.explorer`),
the references are the usual bandit baselines, made batch-aware the same way (at least two checkpoints
per Explore batch).
"""

from __future__ import annotations

import math

import numpy as np

from ..engines.explorer import policy
from ..engines.explorer.arms import ArmTable
from ..engines.explorer.config import PolicyConfig


def draw_utilities(rng: np.random.Generator, arms: int, min_gap: float) -> np.ndarray:
    """Standard-normal utilities, redrawn until the best leads the runner-up by ``min_gap``."""
    while True:
        u = rng.standard_normal(arms)
        top = np.sort(u)
        if top[-1] - top[-2] >= min_gap:
            return u


def plackett_luce_picks(utilities: np.ndarray, counts: np.ndarray, picks: int, rng) -> np.ndarray:
    """Picks per arm when the user chooses ``picks`` drafts, one at a time, without replacement."""
    remaining = counts.astype(float).copy()
    chosen = np.zeros(len(counts))
    weights = np.exp(utilities)
    for _ in range(min(picks, int(counts.sum()))):
        mass = remaining * weights
        arm = rng.choice(len(counts), p=mass / mass.sum())
        chosen[arm] += 1
        remaining[arm] -= 1
    return chosen


class Thompson:
    """The product policy: engines.explorer (ArmTable + policy.explore/quick)."""

    name = "thompson"

    def __init__(self, arms: int, config: PolicyConfig, rng: np.random.Generator) -> None:
        self.table = ArmTable([f"ckpt{i}" for i in range(arms)])
        self.config, self.rng = config, rng

    def allocate(self, count: int) -> np.ndarray:
        return np.array(policy.explore(self.table, count, self.config).counts)

    def observe(self, counts: np.ndarray, picks: np.ndarray) -> None:
        teaches = int(np.count_nonzero(counts)) >= 2
        self.table.observe_arrays(counts, counts, picks, teaches, self.config.discount)

    def best(self) -> int:
        return int(np.argmax(policy.posterior_means(self.table, self.config)))


class _Counting:
    """Shared state of the references: undiscounted picks and drafts shown per arm."""

    def __init__(self, arms: int, rng: np.random.Generator) -> None:
        self.picks, self.shown, self.rng, self.rounds = np.zeros(arms), np.zeros(arms), rng, 0

    def rates(self) -> np.ndarray:
        return np.where(self.shown > 0, self.picks / np.maximum(self.shown, 1), 0.0)

    def observe(self, counts: np.ndarray, picks: np.ndarray) -> None:
        self.picks += picks
        self.shown += counts
        self.rounds += 1

    def best(self) -> int:
        return int(np.argmax(self.rates()))

    def two_arm_batch(self, order: list[int], count: int) -> np.ndarray:
        """All drafts on ``order[0]`` but one, which goes to ``order[1]`` (an Explore batch compares two)."""
        counts = np.zeros(len(self.picks))
        counts[order[0]] = count - 1
        counts[order[1]] += 1
        return counts


class RoundRobin(_Counting):
    """Today's Explore default: drafts dealt to the checkpoints in turn."""

    name = "round_robin"

    def allocate(self, count: int) -> np.ndarray:
        arms = len(self.picks)
        start = self.rounds * count
        return np.bincount([(start + j) % arms for j in range(count)], minlength=arms).astype(float)


class EpsilonGreedy(_Counting):
    """Each draft goes to a random checkpoint with probability epsilon, else to the best rate so far."""

    name = "epsilon_greedy"
    epsilon = 0.1

    def allocate(self, count: int) -> np.ndarray:
        arms = len(self.picks)
        order = list(np.argsort(-(self.rates() + self.rng.random(arms) * 1e-9), kind="stable"))
        counts = np.zeros(arms)
        for _ in range(count):
            counts[self.rng.integers(arms) if self.rng.random() < self.epsilon else order[0]] += 1
        if np.count_nonzero(counts) < 2:
            return self.two_arm_batch(order, count)
        return counts


class UCB1(_Counting):
    """Drafts on the highest upper confidence bound; the second bound gets one draft."""

    name = "ucb1"

    def allocate(self, count: int) -> np.ndarray:
        total = max(self.shown.sum(), 1.0)
        bonus = np.sqrt(2.0 * math.log(total + 1.0) / np.maximum(self.shown, 1e-9))
        index = np.where(self.shown > 0, self.rates() + bonus, np.inf) + self.rng.random(len(self.picks)) * 1e-9
        return self.two_arm_batch(list(np.argsort(-index, kind="stable")), count)


REFERENCES = (RoundRobin, EpsilonGreedy, UCB1)
