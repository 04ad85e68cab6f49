"""The explorer benchmark and demo step run end to end (tiny sizes) and report the issue's keys."""

from __future__ import annotations

import json

from comfyui_lora_lab.cli import demo_explorer, main

KEYS = {"regret_ratio_vs_round_robin", "best_by_round_100", "exposure_rate_gap", "drift_recovery_rounds",
        "stats_p95_ms", "goals", "policies", "context_regret_ratio"}


def test_the_benchmark_prints_one_json_object_with_the_issue_keys(capsys):
    main(["bench", "explorer", "--json", "--seeds", "2", "--rounds", "120", "--exposure-rounds", "50",
          "--context-seeds", "1", "--stats-checkpoints", "10", "--stats-drafts", "200", "--stats-requests", "10"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert KEYS <= set(result)
    assert set(result["policies"]) == {"thompson", "round_robin", "epsilon_greedy", "ucb1"}
    assert result["policies"]["round_robin"]["regret_ratio_vs_round_robin"] == 1.0


def test_the_demo_step_learns_the_simulated_favourite(tmp_path):
    result = demo_explorer.run(tmp_path)
    assert sorted(result["first_batch"].values()) == [2, 2, 2]
    assert max(result["last_explore_batch"], key=result["last_explore_batch"].get) == result["user_favourite"]
    assert result["quick_batch"] == {result["user_favourite"]: 6}
