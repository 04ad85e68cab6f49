"""Exact resume after a real kill -9 of a training process, and 2-process data parallelism (accelerate, gloo)
equal to one process with twice the batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from comfyui_lora_lab.engines.lora_format import load_tensors
from comfyui_lora_lab.engines.training.config import TrainingConfig
from comfyui_lora_lab.engines.training.inprocess import InProcessEngine
from comfyui_lora_lab.engines.training.job import TrainingJob
from comfyui_lora_lab.engines.training.losslog import LossLog, plot_losses
from comfyui_lora_lab.engines.training.state import ResumeError

STEPS, KILL_AFTER = 8, 4


def cli(dataset, model, tmp_path, name, *extra):
    return [sys.executable, "-m", "comfyui_lora_lab.cli", "train", "run", str(dataset), "--name", name,
            "--model", str(model), "--out", str(tmp_path / "loras"), "--runs", str(tmp_path / "runs"),
            "--max-steps", str(STEPS), "--save-every", str(KILL_AFTER), "--batch-size", "2", "--resolution", "64",
            "--rank", "4", "--sample-steps", "0", "--trigger", "lorasks", "--threads", "1", *extra]


def losses(run_dir):
    return [(entry["step"], entry["loss"]) for entry in LossLog(run_dir).entries()]


@pytest.mark.slow
def test_resume_after_kill_9_is_bitwise_identical_to_an_uninterrupted_run(tiny_sd15, dataset, tmp_path, monkeypatch):
    from comfyui_lora_lab.cli import main

    with monkeypatch.context() as patch:  # the uninterrupted run in this process (one thread, like the others)
        patch.setattr("builtins.print", lambda *a, **k: None)
        assert main(cli(dataset, tiny_sd15, tmp_path, "straight")[3:]) == 0
    victim = subprocess.Popen(cli(dataset, tiny_sd15, tmp_path, "killed"), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    for line in victim.stdout:
        if line.startswith(f"state saved at step {KILL_AFTER}"):
            os.kill(victim.pid, signal.SIGKILL)
            break
    assert victim.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (tmp_path / "loras" / "killed.safetensors").exists()
    resumed = subprocess.run(cli(dataset, tiny_sd15, tmp_path, "killed", "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from step-{KILL_AFTER:07d}" in resumed.stdout
    straight, killed = (load_tensors(tmp_path / "loras" / f"{n}.safetensors")[0] for n in ("straight", "killed"))
    assert straight.keys() == killed.keys()
    assert all(torch.equal(straight[key], killed[key]) for key in straight)
    assert losses(tmp_path / "runs" / "straight") == losses(tmp_path / "runs" / "killed")
    assert len(losses(tmp_path / "runs" / "killed")) == STEPS


def test_resume_refuses_changed_settings(tiny_sd15, dataset, tmp_path):
    base = dict(resolution=64, batch_size=2, max_steps=2, rank=4, sample_steps=0, save_every=1)
    first = TrainingJob(dataset, tiny_sd15, "r", TrainingConfig.for_family("sd15", **base), tmp_path / "l", tmp_path / "r")
    InProcessEngine().train(first, log=lambda m: None)
    changed = TrainingConfig.for_family("sd15", **(base | {"learning_rate": 1e-3, "max_steps": 3}))
    again = TrainingJob(dataset, tiny_sd15, "r", changed, tmp_path / "l", tmp_path / "r", resume=True)
    with pytest.raises(ResumeError, match="'learning_rate' was 0.0001"):
        InProcessEngine().train(again, log=lambda m: None)


@pytest.mark.slow
def test_two_processes_equal_one_process_with_twice_the_batch(tiny_sd15, dataset, tmp_path):
    results = {}
    for processes, batch in ((1, 2), (2, 1)):
        config = TrainingConfig.for_family("sd15", resolution=64, batch_size=batch, max_steps=3, rank=4,
                                           sample_steps=0, save_every=0)
        job = TrainingJob(dataset, tiny_sd15, f"p{processes}", config, tmp_path / "loras", tmp_path / f"run{processes}",
                          processes=processes)
        results[processes] = InProcessEngine().train(job, log=lambda m: None)
    summary = results[2].summary
    assert (summary.processes, summary.per_device_batch, summary.effective_batch, summary.steps_per_epoch) == (2, 1, 2, 2)
    one, two = (load_tensors(results[p].lora_path)[0] for p in (1, 2))
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-6
    assert results[1].losses == pytest.approx(results[2].losses, rel=1e-5)


def test_loss_log_survives_restarts_and_plots(tmp_path):
    log = LossLog(tmp_path)
    for step in range(1, 6):
        log.append(step, 1, 1.0 / step, 1e-4)
    log.close()
    with open(tmp_path / "loss.jsonl", "a") as handle:
        handle.write('{"step": 6, "lo')  # a line cut by a crash
    assert [e["step"] for e in LossLog(tmp_path).entries()] == [1, 2, 3, 4, 5]
    LossLog(tmp_path).truncate(3)
    assert [json.loads(line)["step"] for line in (tmp_path / "loss.jsonl").read_text().splitlines()] == [1, 2, 3]
    image = plot_losses(LossLog(tmp_path).entries(), tmp_path / "loss.png", "test")
    assert image.size == (640, 360) and (tmp_path / "loss.png").stat().st_size > 1000
    assert plot_losses([], tmp_path / "empty.png", "empty").size == (640, 360)
