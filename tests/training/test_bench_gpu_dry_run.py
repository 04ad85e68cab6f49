"""``lora-lab bench gpu --dry-run``: the prepared GPU check runs end to end on the CPU with tiny shapes, so a
GPU session only has to run it (the figures on a GPU are measured there, not here)."""

from __future__ import annotations

import argparse

import pytest

from comfyui_lora_lab.bench import gpu


@pytest.mark.slow
def test_the_dry_run_reports_every_figure(tmp_path):
    parser = argparse.ArgumentParser()
    gpu.add_arguments(parser)
    result = gpu.run(parser.parse_args(["--dry-run", "--workdir", str(tmp_path)]))
    assert result["device"] == "cpu (dry run)"
    assert result["steps_per_s_ours_fp32"] > 0 and result["reference"].startswith("skipped: pass --reference")
    assert result["memory_estimate_mb"] > 0 and result["memory_measured_mb"] > 0
    assert result["oom_refused"] and result["oom_loaded_nothing"] is True
    assert result["oom_message"].startswith("not enough memory: estimated peak")
    assert result["refiner_tokens_per_s"] > 0
    assert result["t2l_device"] == "cpu" and result["t2l_steps"] == 4 and result["t2l_seconds"] > 0


def test_without_a_gpu_the_real_run_says_so(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    parser = argparse.ArgumentParser()
    gpu.add_arguments(parser)
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        gpu.run(parser.parse_args([]))
