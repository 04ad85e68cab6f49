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
        mass = np.cumsum(remaining * weights)
        arm = min(int(np.searchsorted(mass, rng.random() * mass[-1], side="right")), len(counts) - 1)
        chosen[arm] += 1
        remaining[arm] -= 1
    return chosen


class Thompson:
    """The product policy: engines.explorer (ArmTable + policy.explore/quick)."""

    name = "thompson"

    def __init__(self, arms: int, config: PolicyConfig) -> None:
        self.table = ArmTable([f"ckpt{i}" for i in range(arms)])
        self.config = config

    def allocate(self, count: int) -> np.ndarray:
        return np.array(policy.explore(self.table, count, self.config).counts)

    def observe(self, counts: np.ndarray, picks: np.ndarray) -> None:
        teaches = int(np.count_nonzero(counts)) >= 2
        self.table.observe_arrays(counts, counts, picks, teaches, self.config.discount)

    def best(self) -> int:
        return int(np.argmax(policy.posterior_means(self.table, self.config)))


class ContextThompson:
    """The product policy with prompt categories on: per-category tables blended with the tier's
    (``ArmTable.blended``, as ``planner.arm_table`` does)."""

    name = "thompson_context"

    def __init__(self, arms: int, config: PolicyConfig, categories: int) -> None:
        names = [f"ckpt{i}" for i in range(arms)]
        self.whole, self.own = ArmTable(names), [ArmTable(names) for _ in range(categories)]
        self.config = config

    def _table(self, category: int) -> ArmTable:
        return self.own[category].blended(self.whole, self.config.context_prior_drafts)

    def allocate(self, count: int, category: int) -> np.ndarray:
        return np.array(policy.explore(self._table(category), count, self.config).counts)

    def observe(self, counts: np.ndarray, picks: np.ndarray, category: int) -> None:
        teaches = int(np.count_nonzero(counts)) >= 2
        for table in (self.whole, self.own[category]):
            table.observe_arrays(counts, counts, picks, teaches, self.config.discount)


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


def run_episode(agent, utilities: np.ndarray, rounds: int, batch: int, rng: np.random.Generator,
                check_round: int = 100, drift: tuple[int, np.ndarray] | None = None) -> dict:
    """One simulated user with one policy: regret, whether the best was identified at ``check_round``,
    and (with ``drift = (round, new utilities)``) the rounds until the new best is identified for 5 rounds."""
    regret, identified, recovery, streak = 0.0, False, None, 0
    for round_index in range(rounds):
        if drift is not None and round_index == drift[0]:
            utilities = drift[1]
        counts = agent.allocate(batch)
        regret += float(np.sum(counts * (utilities.max() - utilities)))
        agent.observe(counts, plackett_luce_picks(utilities, counts, 1, rng))
        if round_index + 1 == check_round:
            identified = agent.best() == int(np.argmax(utilities))
        if drift is not None and round_index >= drift[0] and recovery is None:
            streak = streak + 1 if agent.best() == int(np.argmax(utilities)) else 0
            recovery = round_index - drift[0] - 4 if streak == 5 else None
    censored = rounds - drift[0] if drift is not None else None
    return {"regret": regret, "identified": identified, "recovery": recovery if recovery is not None else censored}


def run_context_episode(agent, utilities: np.ndarray, rounds: int, batch: int, rng: np.random.Generator) -> float:
    """Regret when each round's prompt has a category (uniform) and the best checkpoint depends on it."""
    regret = 0.0
    for _ in range(rounds):
        category = int(rng.integers(len(utilities)))
        u = utilities[category]
        counts = agent.allocate(batch, category)
        regret += float(np.sum(counts * (u.max() - u)))
        agent.observe(counts, plackett_luce_picks(u, counts, 1, rng), category)
    return regret


class ContextFree:
    """The product policy ignoring the category (prompt categories off), for the context comparison."""

    def __init__(self, arms: int, config: PolicyConfig) -> None:
        self.inner = Thompson(arms, config)

    def allocate(self, count: int, category: int) -> np.ndarray:
        return self.inner.allocate(count)

    def observe(self, counts: np.ndarray, picks: np.ndarray, category: int) -> None:
        self.inner.observe(counts, picks)
