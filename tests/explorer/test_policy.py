"""The explorer policy: Explore allocation, floor, Quick guard, exposure normalisation, drift, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from comfyui_lora_lab.bench.explorer_sim import RoundRobin, Thompson, User, bernoulli_picks, run_episode
from comfyui_lora_lab.engines.explorer import policy
from comfyui_lora_lab.engines.explorer.arms import ArmTable, BatchOutcome
from comfyui_lora_lab.engines.explorer.config import PolicyConfig
from comfyui_lora_lab.engines.explorer.planner import grouped_drafts

CONFIG = PolicyConfig()


def _table(names=("a", "b", "c")):
    return ArmTable(list(names))


def _learn(table, rates, rounds, rng, count=4, config=CONFIG):
    for _ in range(rounds):
        counts = np.array(policy.explore(table, count, CONFIG).counts)
        picks = bernoulli_picks(np.array(rates), counts, rng.normal(0.0, 0.05), rng)
        table.observe_arrays(counts, counts, picks, np.count_nonzero(counts) >= 2, config.discount)
    return table


def test_an_uninformed_tier_splits_twenty_drafts_seven_seven_six():
    counts = policy.explore(_table(), 20, CONFIG).counts
    assert sorted(counts) == [6, 7, 7]


@pytest.mark.parametrize("arms", [3, 4, 5, 6])
@pytest.mark.parametrize("count", [2, 4, 20])
def test_explore_spreads_over_two_or_three_checkpoints(arms, count):
    rng = np.random.default_rng(arms * 100 + count)
    table = _learn(_table([f"c{i}" for i in range(arms)]), np.linspace(0.4, 0.2, arms), 30, rng)
    for _ in range(20):
        counts = policy.explore(table, count, CONFIG).counts
        assert sum(counts) == count and 2 <= np.count_nonzero(counts) <= min(3, count)


def test_the_same_seed_and_history_give_the_same_plan():
    table = _learn(_table(), [0.4, 0.3, 0.2], 40, np.random.default_rng(1))
    plans = {policy.explore(table, 20, CONFIG).counts for _ in range(3)}
    assert len(plans) == 1
    assert grouped_drafts(("a", "b", "c"), (7, 7, 6), 9) == grouped_drafts(("a", "b", "c"), (7, 7, 6), 9)


def test_drafts_are_grouped_so_each_checkpoint_loads_once():
    drafts = grouped_drafts(("a", "b", "c"), (6, 7, 7), 100)
    names = [d.checkpoint for d in drafts]
    switches = 1 + sum(1 for x, y in zip(names, names[1:]) if x != y)
    assert switches == 3 and names[:7] == ["b"] * 7
    assert [d.seed for d in drafts] == list(range(100, 120)) and [d.index for d in drafts] == list(range(20))


def test_the_floor_shows_a_starved_arm_until_it_has_enough_exposures():
    table = _table(("a", "b", "c", "d"))
    table.picks[:], table.shown[:] = [40, 20, 0, 0], [100, 100, 15, 25]  # c and d look hopeless
    table.exposures[:] = [100, 100, CONFIG.min_exposures - 5, CONFIG.min_exposures]
    table.idle[:] = [0, 0, CONFIG.floor_period - 1, CONFIG.floor_period - 1]
    allocation = policy.explore(table, 4, CONFIG)
    assert allocation.counts[2] == 1 and allocation.reasons[2] == "floor"
    assert allocation.counts[3] == 0  # d has enough exposures: no floor for it
    table.idle[2] = CONFIG.floor_period - 2  # shown recently: not due yet
    assert policy.explore(table, 4, CONFIG).counts[2] == 0


def test_quick_uses_the_default_until_every_arm_is_exposed_then_the_best_mean():
    table = _table()
    table.picks[:], table.shown[:] = [1, 9, 2], [30, 30, 30]
    table.exposures[:] = [30, 30, CONFIG.min_exposures - 1]
    assert policy.quick(table, 5, CONFIG, default=0).counts == (5, 0, 0)
    table.exposures[2] = CONFIG.min_exposures
    quick = policy.quick(table, 5, CONFIG, default=0)
    assert quick.counts == (0, 5, 0) and quick.reasons[1] == "best"


def test_the_policy_learns_the_favourite():
    table = _learn(_table(), [0.25, 0.4, 0.2], 150, np.random.default_rng(2))
    assert int(np.argmax(policy.posterior_means(table, CONFIG))) == 1
    counts = policy.explore(table, 20, CONFIG).counts
    assert counts[1] >= 14 and np.count_nonzero(counts) >= 2  # the leader gets most, a rival stays in


def test_discounting_follows_a_change_of_taste():
    rng = np.random.default_rng(4)
    table = _learn(_table(), [0.45, 0.2, 0.2], 150, rng)
    _learn(table, [0.2, 0.45, 0.2], 120, rng)
    assert int(np.argmax(policy.posterior_means(table, CONFIG))) == 1


def test_only_reviewed_batches_that_compare_checkpoints_teach():
    assert BatchOutcome({"a": 2, "b": 2}, {"a": 2, "b": 2}, {"a": 1}, True).teaches
    assert not BatchOutcome({"a": 4}, {"a": 4}, {"a": 1}, True).teaches          # quick batch
    assert not BatchOutcome({"a": 2, "b": 2}, {"a": 2, "b": 2}, {}, False).teaches  # never reviewed
    table = _table()
    table.observe(BatchOutcome({"a": 4}, {"a": 4}, {"a": 1}, True), CONFIG.discount)
    assert table.shown.sum() == 0 and table.exposures[0] == 4 and table.idle.tolist()[0] == 0


def test_replay_equals_incremental_updates():
    outcomes = [BatchOutcome({"a": 2, "b": 1}, {"a": 2, "b": 1}, {"b": 1}, True),
                BatchOutcome({"c": 3}, {"c": 3}, {}, False),
                BatchOutcome({"a": 1, "c": 2}, {"a": 1, "c": 2}, {"a": 1}, True)]
    replayed = ArmTable.replay(["a", "b", "c"], outcomes, 0.9)
    assert replayed.picks.tolist() == pytest.approx([1.0, 0.9, 0.0])
    assert replayed.shown.tolist() == pytest.approx([2 * 0.9 + 1, 0.9, 2.0])
    assert replayed.idle.tolist() == [0, 2, 0] and replayed.exposures.tolist() == [3, 1, 5]


@pytest.mark.parametrize("field,value", [
    ("discount", 0.2), ("min_exposures", 0), ("floor_period", 0), ("min_arms", 4), ("prior_strength", 0.0),
    ("context_prior_drafts", -1.0),
])
def test_policy_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=f"PolicyConfig.{field}"):
        PolicyConfig(**{field: value})


def test_count_zero_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        policy.explore(_table(), 0, CONFIG)


def test_a_close_rival_gets_fewer_drafts_than_plain_probability_matching_would_give_it():
    table = _table(("a", "b"))
    table.picks[:], table.shown[:] = [30, 24], [100, 100]
    wins = policy.win_probabilities(table, CONFIG)
    counts = policy.explore(table, 20, CONFIG).counts
    assert 0.5 < wins[0] < 0.95 and counts[1] >= 1
    assert counts[1] < round(wins[1] * 20)


@pytest.mark.parametrize("seed", range(3))
def test_at_realistic_gaps_the_policy_loses_less_than_round_robin(seed):
    """Deterministic figure: pick rates 0.30 / 0.25 / 0.22 (gaps of 0.05 and 0.08), noisy user, 300 rounds."""
    user = User(np.array([0.25, 0.30, 0.22]))
    regrets = [run_episode(agent, user, 300, 4, np.random.default_rng(seed))["regret"]
               for agent in (Thompson(3, CONFIG), RoundRobin(3, CONFIG, np.random.default_rng(0)))]
    assert regrets[0] < 0.75 * regrets[1], regrets
