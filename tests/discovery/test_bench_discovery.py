"""The discovery benchmark end to end on its evaluation pool (no 10k library): quality floors that must hold."""

from __future__ import annotations

import argparse

import pytest

from comfyui_lora_lab.bench import discovery


@pytest.mark.slow
def test_quality_learning_and_keys(tmp_path):
    result = discovery.run(argparse.Namespace(files=0, seed=0, workers=1, users=1, picks=20, workdir=str(tmp_path)))
    assert result["wrong_family_picks"] == 0
    assert result["recall_at_3"] >= 0.9 and result["recall_at_3"] > result["baseline_recall_at_3"] + 0.3
    assert result["abstain_rate"] >= 0.8 and result["meta_test_generic_false_trigger_rate"] <= 0.05
    assert result["names_test_wrong_family_picks"] < result["baseline_test_wrong_family_picks"]
    assert result["learning_preferred_after"] > result["learning_preferred_before"]
    assert result["learning_heldout_after"] >= result["learning_heldout_before"] - 0.02
