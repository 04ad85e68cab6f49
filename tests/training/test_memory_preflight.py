"""The memory preflight: its estimate against the live-tensor peak of a real run (CPU), the refusal with the
figure and what to change before anything loads, and the estimate in the run summary."""

from __future__ import annotations

import pytest
import torch

from comfyui_lora_lab.engines.training import memory
from comfyui_lora_lab.engines.training.config import TrainingConfig
from comfyui_lora_lab.engines.training.memory import LiveBytes, MemoryPreflightError, changes_that_help
from comfyui_lora_lab.engines.training.trainer import Trainer
from comfyui_lora_lab.engines.training.usecase import TrainRequest, build_job, memory_preflight, train_lora


def _request(tiny_sd15, dataset, tmp_path, **settings) -> TrainRequest:
    values = dict(rank=4, max_steps=2, batch_size=2, resolution=128, sample_steps=0, save_every=0,
                  trigger_word="lorasks") | settings
    return TrainRequest(dataset, tiny_sd15, "memory", tmp_path / "loras", tmp_path / "runs", values, overwrite=True)


@pytest.mark.parametrize("settings", [dict(), dict(gradient_checkpointing=True), dict(batch_size=4, rank=8)])
def test_the_estimate_is_within_a_quarter_of_the_live_peak_of_a_real_run(tiny_sd15, dataset, tmp_path, settings):
    job = build_job(_request(tiny_sd15, dataset, tmp_path, **settings))
    estimate = memory_preflight(job)
    tracker = LiveBytes()
    with tracker:
        Trainer(job, log=lambda message: None).run()
    caches = estimate.parts.get("caches", 0)  # host-side tensors the tracker also sees, inside the estimate
    assert abs(estimate.peak / tracker.peak - 1) <= 0.25, (estimate.to_dict(), tracker.peak, caches)


def test_checkpointing_and_a_smaller_batch_lower_the_estimate(tiny_sd15, dataset, tmp_path):
    peaks = {}
    for name, settings in {"base": dict(batch_size=4), "checkpointing": dict(batch_size=4, gradient_checkpointing=True),
                           "batch": dict(batch_size=1)}.items():
        peaks[name] = memory_preflight(build_job(_request(tiny_sd15, dataset, tmp_path, **settings))).phases["train"]
    assert peaks["checkpointing"] < peaks["base"] and peaks["batch"] < peaks["base"]


def test_a_run_that_cannot_fit_is_refused_before_anything_loads(tiny_sd15, dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1 << 20)
    loaded = []
    monkeypatch.setattr(Trainer, "build_model", lambda self: loaded.append(True))
    with pytest.raises(MemoryPreflightError) as raised:
        train_lora(_request(tiny_sd15, dataset, tmp_path, batch_size=4), log=lambda message: None)
    message = str(raised.value)
    assert message.startswith("not enough memory: estimated peak ") and "1 MB available" in message
    assert "batch_size 4 -> 2" in message and "turn gradient_checkpointing on" in message
    assert not loaded and not (tmp_path / "runs" / "memory").exists()


def test_what_to_change_follows_the_settings():
    config = TrainingConfig.for_family("sdxl", batch_size=8, rank=64, resolution=1024, sample_steps=0)
    changes = changes_that_help(config)
    assert changes[0].startswith("batch_size 8 -> 4") and "rank 64 -> 32" in changes
    assert "resolution 1024 -> 768" in changes and "turn gradient_checkpointing on" not in changes


def test_the_summary_repeats_the_estimate(tiny_sd15, dataset, tmp_path):
    result = train_lora(_request(tiny_sd15, dataset, tmp_path, max_steps=1), log=lambda message: None)
    assert "memory: estimated peak" in result.summary.text() and "on cpu" in result.summary.memory
    assert result.freed_bytes is not None
    assert torch.is_grad_enabled()
