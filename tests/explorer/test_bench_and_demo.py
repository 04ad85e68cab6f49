"""The explorer benchmark and demo step run end to end (tiny sizes) and report the issue's keys."""

from __future__ import annotations

import json

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
