"""The draft-flow benchmark: deterministic simulation figures, so its goals are asserted here."""

from __future__ import annotations

import argparse

import pytest

from comfyui_lora_lab.bench import BENCHMARKS, draft_flow


def _args(**changes) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    draft_flow.add_arguments(parser)
    return parser.parse_args([f"--{k.replace('_', '-')}={v}" for k, v in changes.items()])


def test_pair_learning_meets_the_goals_and_reports_the_per_factor_baseline():
    assert BENCHMARKS["draft-flow"] == "draft_flow"
    result = draft_flow.run(_args(users=20))
    assert result["pair_regret_ratio_vs_uniform"] <= draft_flow.GOALS["pair_regret_ratio_vs_uniform"][1]
    assert result["best_pair_share_by_batch_50"] >= draft_flow.GOALS["best_pair_share_by_batch_50"][1]
    assert 0 < result["per_factor_regret_ratio_vs_uniform"] < 1.5
    assert 0 <= result["per_factor_best_pair_share_by_batch_50"] <= 1
    assert result == draft_flow.run(_args(users=20)), "the simulation is seeded"


def test_the_share_needs_fifty_batches():
    with pytest.raises(ValueError, match="--batches must be at least 50"):
        draft_flow.run(_args(batches=10))
