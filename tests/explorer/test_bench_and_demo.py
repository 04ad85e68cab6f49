"""The explorer benchmark and demo step run end to end (tiny sizes) and report the issue's keys."""

from __future__ import annotations

import json

import pytest

from comfyui_lora_lab.cli import demo_explorer, main

KEYS = {"regret_ratio_vs_round_robin", "regret_ratio_vs_best_baseline", "best_baseline", "best_by_round_100",
        "exposure_rate_gap", "exposure_naive_per_batch_gap", "drift_recovery_rounds", "stats_p95_ms", "goals",
        "policies", "context_regret_ratio", "stationary_regret_ratio_vs_round_robin",
        "drifting_regret_ratio_vs_round_robin"}


def test_the_benchmark_prints_one_json_object_with_the_issue_keys(capsys):
    main(["bench", "explorer", "--json", "--seeds", "6", "--rounds", "200", "--exposure-seeds", "1",
          "--exposure-rounds", "80", "--context-seeds", "1", "--stats-checkpoints", "10", "--stats-drafts", "200",
          "--stats-requests", "10"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert KEYS <= set(result)
    assert set(result["policies"]) == {"ours", "round_robin", "epsilon_greedy", "ucb1", "thompson_undiscounted"}
    assert result["policies"]["round_robin"]["regret_ratio_vs_round_robin"] == 1.0
    assert result["best_baseline"] in {"epsilon_greedy", "ucb1", "thompson_undiscounted"}
    # deterministic simulation figures (same seeds, same numbers): ours well below round-robin, the rates of
    # the exposure check (through the store) far closer than the naive per-batch counts
    assert result["regret_ratio_vs_round_robin"] < 0.8
    assert result["exposure_rate_gap"] < result["exposure_naive_per_batch_gap"]
    assert set(result["goals"]) == {"regret_ratio_vs_round_robin", "regret_ratio_vs_best_baseline", "exposure_rate_gap",
                                    "best_by_round_100", "drift_recovery_rounds", "stats_p95_ms"}


def test_the_demo_step_learns_the_simulated_favourite(tmp_path):
    result = demo_explorer.run(tmp_path)
    assert sorted(result["first_batch"].values()) == [2, 2, 2]
    assert max(result["last_explore_batch"], key=result["last_explore_batch"].get) == result["user_favourite"]
    assert result["quick_batch"] == {result["user_favourite"]: 6}


def test_the_product_policy_beats_round_robin_and_the_best_bandit_on_the_same_simulated_users():
    """Deterministic figures (30 stationary + 30 drifting users, 500 rounds, the bench's seeds and the
    product's config): the numbers are pinned, so a change of the policy or the simulation shows here; the
    bench's 200 + 200 users give the figures judged against the goals."""
    import argparse

    from comfyui_lora_lab.bench.explorer import _policies, _regret_figures
    from comfyui_lora_lab.engines.explorer.config import PolicyConfig

    args = argparse.Namespace(seeds=30, seed_offset=0, rounds=500, batch=4)
    figures = _regret_figures(_policies(args, PolicyConfig()))
    assert figures["best_baseline"] == "thompson_undiscounted"
    assert figures["regret_ratio_vs_round_robin"] == pytest.approx(0.525, abs=0.0015)
    assert figures["regret_ratio_vs_best_baseline"] == pytest.approx(0.895, abs=0.0015)
    assert figures["stationary_regret_ratio_vs_round_robin"] == pytest.approx(0.506, abs=0.0015)
    assert figures["drifting_regret_ratio_vs_round_robin"] == pytest.approx(0.539, abs=0.0015)
    assert figures["regret_ratio_vs_best_baseline_ci95"][1] < 1.0  # better than the best bandit, not by chance
