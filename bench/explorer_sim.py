"""Simulated users and policies for ``bench/explorer.py``.

A user likes each checkpoint's drafts at a hidden *pick rate*: every draft shown is picked with that
probability, shifted for the whole batch by the user's mood (a normal draw per batch, the same for every
draft of it: noisy users). The best checkpoint leads each other one by 0.02-0.10 in pick rate, the size of
difference real preferences show; half of the users drift (another checkpoint becomes the best). Regret of
a round is the pick rate lost per draft, ``sum over drafts of (max(rate) - rate_k)``. Every policy
allocates the same batch size and sees the same users; ours is the product code (:mod:`engines.explorer`),
the references are the usual bandit baselines, made batch-aware the same way (at least two checkpoints
per Explore batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engines.explorer import policy
from ..engines.explorer.arms import ArmTable
from ..engines.explorer.config import PolicyConfig

MIN_GAP, MAX_GAP = 0.02, 0.10


@dataclass(frozen=True)
class User:
    """Hidden pick rates per checkpoint, the per-batch mood noise, and (optionally) the drift."""

    rates: np.ndarray
    mood_sd: float = 0.05
    drift_round: int | None = None
    drifted_rates: np.ndarray | None = None

    def rates_at(self, round_index: int) -> np.ndarray:
        if self.drift_round is not None and round_index >= self.drift_round:
            return self.drifted_rates
        return self.rates


def draw_rates(rng: np.random.Generator, arms: int) -> np.ndarray:
    """The best checkpoint picked at 0.20-0.40 per draft, every other one 0.02-0.10 below it."""
    best = rng.uniform(0.20, 0.40)
    rates = best - rng.uniform(MIN_GAP, MAX_GAP, arms)
    rates[int(rng.integers(arms))] = best
    return rates


def draw_user(rng: np.random.Generator, rounds: int, drifting: bool) -> User:
    """A user of a 3-6 checkpoint tier; a drifting one changes favourite between 1/4 and 3/4 of the rounds
    (a random other checkpoint becomes the best, 0.02-0.10 above the old best)."""
    arms = int(rng.integers(3, 7))
    rates = draw_rates(rng, arms)
    if not drifting:
        return User(rates)
    newcomer = int(rng.choice([i for i in range(arms) if i != int(np.argmax(rates))]))
    shifted = rates.copy()
    shifted[newcomer] = rates.max() + rng.uniform(MIN_GAP, MAX_GAP)
    return User(rates, drift_round=int(rng.integers(rounds // 4, 3 * rounds // 4 + 1)), drifted_rates=shifted)


def bernoulli_picks(rates: np.ndarray, counts: np.ndarray, mood: float, rng: np.random.Generator) -> np.ndarray:
    """Picks per arm: each of ``counts[k]`` drafts picked with probability ``rates[k] + mood`` (clipped)."""
    chance = np.clip(rates + mood, 0.005, 0.995)
    return rng.binomial(counts.astype(np.int64), chance).astype(float)


class Thompson:
    """The product policy: engines.explorer (ArmTable + policy.explore), with the product's config."""

    name = "ours"

    def __init__(self, arms: int, config: PolicyConfig, rng: np.random.Generator | None = None) -> None:
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

    name = "ours_context"

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


class ContextFree:
    """The product policy ignoring the category (prompt categories off), for the context comparison."""

    def __init__(self, arms: int, config: PolicyConfig) -> None:
        self.inner = Thompson(arms, config)

    def allocate(self, count: int, category: int) -> np.ndarray:
        return self.inner.allocate(count)

    def observe(self, counts: np.ndarray, picks: np.ndarray, category: int) -> None:
        self.inner.observe(counts, picks)


class _Counting:
    """Shared state of the references: undiscounted picks and drafts shown per arm."""

    def __init__(self, arms: int, config: PolicyConfig, rng: np.random.Generator) -> None:
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

    def at_least_two(self, counts: np.ndarray, order: list[int], count: int) -> np.ndarray:
        return counts if np.count_nonzero(counts) >= 2 else self.two_arm_batch(order, count)


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
        return self.at_least_two(counts, order, count)


class UCB1(_Counting):
    """Drafts on the highest upper confidence bound; the second bound gets one draft."""

    name = "ucb1"

    def allocate(self, count: int) -> np.ndarray:
        total = max(self.shown.sum(), 1.0)
        bonus = np.sqrt(2.0 * math.log(total + 1.0) / np.maximum(self.shown, 1e-9))
        index = np.where(self.shown > 0, self.rates() + bonus, np.inf) + self.rng.random(len(self.picks)) * 1e-9
        return self.two_arm_batch(list(np.argsort(-index, kind="stable")), count)


class PlainThompson(_Counting):
    """Textbook Thompson sampling: each draft goes to the argmax of one draw from every arm's
    Beta(1 + picks, 1 + misses) on all evidence, never discounted."""

    name = "thompson_undiscounted"

    def allocate(self, count: int) -> np.ndarray:
        arms = len(self.picks)
        misses = np.maximum(self.shown - self.picks, 0.0)
        draws = self.rng.beta(1.0 + self.picks, 1.0 + misses, size=(count, arms))
        counts = np.bincount(np.argmax(draws, axis=1), minlength=arms).astype(float)
        order = list(np.argsort(-draws.mean(axis=0), kind="stable"))
        return self.at_least_two(counts, order, count)


REFERENCES = (RoundRobin, EpsilonGreedy, UCB1, PlainThompson)
BASELINES = ("epsilon_greedy", "ucb1", "thompson_undiscounted")  # the bandits ours must beat


def run_episode(agent, user: User, rounds: int, batch: int, rng: np.random.Generator,
                check_round: int = 100) -> dict:
    """One simulated user with one policy: regret, whether the best was identified at ``check_round``,
    and (for a drifting user) the rounds until the new best is named for 5 consecutive rounds."""
    regret, identified, recovery, streak = 0.0, False, None, 0
    for round_index in range(rounds):
        rates = user.rates_at(round_index)
        counts = agent.allocate(batch)
        regret += float(np.sum(counts * (rates.max() - rates)))
        agent.observe(counts, bernoulli_picks(rates, counts, rng.normal(0.0, user.mood_sd), rng))
        if round_index + 1 == check_round:
            identified = agent.best() == int(np.argmax(rates))
        if user.drift_round is not None and round_index >= user.drift_round and recovery is None:
            streak = streak + 1 if agent.best() == int(np.argmax(rates)) else 0
            recovery = round_index - user.drift_round - 4 if streak == 5 else None
    censored = rounds - user.drift_round if user.drift_round is not None else None
    return {"regret": regret, "identified": identified, "recovery": recovery if recovery is not None else censored}


def run_context_episode(agent, rates: list[np.ndarray], rounds: int, batch: int, rng: np.random.Generator) -> float:
    """Regret when each round's prompt has a category (uniform) and the best checkpoint depends on it."""
    regret = 0.0
    for _ in range(rounds):
        category = int(rng.integers(len(rates)))
        r = rates[category]
        counts = agent.allocate(batch, category)
        regret += float(np.sum(counts * (r.max() - r)))
        agent.observe(counts, bernoulli_picks(r, counts, rng.normal(0.0, 0.05), rng), category)
    return regret
