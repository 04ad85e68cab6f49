"""The device/precision policy, loss scaling, collectives on the process group's device, and the
out-of-memory path: all on the CPU, with real tiny models and real runs."""

from __future__ import annotations

import json

import pytest
import torch

from comfyui_lora_lab.engines.training import distributed
from comfyui_lora_lab.engines.training.config import TrainingConfig
from comfyui_lora_lab.engines.training.distributed import Context, collective_device
from comfyui_lora_lab.engines.training.inprocess import InProcessEngine
from comfyui_lora_lab.engines.training.job import TrainingJob
from comfyui_lora_lab.engines.training.policy import DevicePolicy, PolicyError, choose_policy
from comfyui_lora_lab.engines.training.state import latest_state, read_meta
from comfyui_lora_lab.engines.training.trainer import Trainer, TrainingOutOfMemory


@pytest.mark.parametrize("device, precision, host, bf16, expected", [
    ("auto", "auto", None, None, ("cpu", "fp32", "the best device present")),
    ("auto", "auto", "cuda:1", True, ("cuda:1", "bf16", "the device ComfyUI runs its models on")),
    ("auto", "auto", "cuda", False, ("cuda", "fp16", "the device ComfyUI runs its models on")),
    ("cpu", "auto", "cuda", True, ("cpu", "fp32", "asked for")),
    ("cuda", "fp32", None, True, ("cuda", "fp32", "asked for")),
    ("cpu", "bf16", None, None, ("cpu", "bf16", "asked for")),
    ("mps", "auto", None, None, ("mps", "fp32", "asked for")),
])
def test_policy_picks_device_and_precision(device, precision, host, bf16, expected):
    policy = choose_policy(device, precision, host, bf16)
    assert (policy.device, policy.precision, policy.reason) == expected
    assert policy.uses_grad_scaler == (policy.precision == "fp16")


@pytest.mark.parametrize("device, precision, bf16, message", [
    ("cpu", "fp16", None, "fp16 training is not supported on the cpu"),
    ("cuda", "bf16", False, "this GPU has no bf16 support"),
    ("cpu", "int8", None, "expected auto, fp32, fp16, bf16, got 'int8'"),
])
def test_policy_refuses_what_cannot_run(device, precision, bf16, message):
    with pytest.raises(PolicyError, match=message):
        choose_policy(device, precision, None, bf16)


def test_only_fp16_gets_a_grad_scaler():
    assert DevicePolicy("cpu", "fp32", "x").grad_scaler() is None
    assert DevicePolicy("cuda", "bf16", "x").grad_scaler() is None
    assert DevicePolicy("cuda", "fp16", "x").uses_grad_scaler
    assert "GradScaler on" in DevicePolicy("cuda", "fp16", "x").text()


def test_collective_device_follows_the_backend():
    assert collective_device("nccl", "cuda", local_rank=1) == "cuda:1"
    assert collective_device("nccl", "cuda:3") == "cuda:3"
    assert collective_device("gloo", "cuda:0") == "cpu"


class _Handed(Exception):
    """Raised by the recording all_reduce once it has seen the tensor."""


@pytest.fixture
def recorded(monkeypatch):
    """A torch.distributed.all_reduce that records the device of what it is handed, then stops the call."""
    devices = []

    def all_reduce(tensor, op=None):
        devices.append(tensor.device.type)
        raise _Handed

    monkeypatch.setattr(torch.distributed, "all_reduce", all_reduce)
    return devices


def test_loss_mean_is_reduced_on_the_groups_device(recorded):
    # "meta" stands in for the CUDA device NCCL needs: main built this tensor on the CPU whatever the group
    with pytest.raises(_Handed):
        distributed.mean_across(0.5, Context(rank=0, world=2, device="meta"))
    assert recorded == ["meta"]


def test_gradients_are_reduced_on_the_groups_device(recorded):
    param = torch.nn.Parameter(torch.ones(3))
    param.grad = torch.full((3,), 2.0)
    with pytest.raises(_Handed):
        distributed.average_gradients([param], Context(rank=0, world=2, device="meta"))
    assert recorded == ["meta"]


def test_gradients_come_back_averaged_on_the_parameters_device(monkeypatch):
    monkeypatch.setattr(torch.distributed, "all_reduce", lambda tensor, op=None: tensor.mul_(2))  # 2 equal ranks
    params = [torch.nn.Parameter(torch.ones(2, 2)), torch.nn.Parameter(torch.ones(3))]
    for index, param in enumerate(params):
        param.grad = torch.full_like(param, float(index + 1))
    distributed.average_gradients(params, Context(rank=1, world=2, device="cpu"))
    assert torch.equal(params[0].grad, torch.ones(2, 2)) and torch.equal(params[1].grad, torch.full((3,), 2.0))
    assert all(p.grad.device == p.device for p in params)
    assert distributed.mean_across(0.25, Context(rank=1, world=2, device="cpu")) == 0.25


def _job(tiny_sd15, dataset, tmp_path, name, **config) -> TrainingJob:
    settings = dict(rank=4, max_steps=4, batch_size=2, resolution=64, sample_steps=0, save_every=2,
                    trigger_word="lorasks") | config
    return TrainingJob(dataset, tiny_sd15, name, TrainingConfig.for_family("sd15", **settings), tmp_path / "loras",
                       tmp_path / "runs" / name)


def test_the_run_summary_reports_the_policy(tiny_sd15, dataset, tmp_path):
    job = _job(tiny_sd15, dataset, tmp_path, "policy", max_steps=1)
    job.host_device = "cpu"
    result = InProcessEngine().train(job, log=lambda message: None)
    assert result.summary.policy == "cpu fp32 (the device ComfyUI runs its models on)"
    assert "device policy: cpu fp32 (the device ComfyUI runs its models on)" in result.summary.text()


def _cpu_scaler(monkeypatch, scale: float):
    monkeypatch.setattr(DevicePolicy, "grad_scaler", lambda self: torch.amp.GradScaler("cpu", init_scale=scale))


def test_loss_scaling_is_undone_before_the_step_and_kept_in_the_state(tiny_sd15, dataset, tmp_path, monkeypatch):
    plain = InProcessEngine().train(_job(tiny_sd15, dataset, tmp_path, "plain"), log=lambda message: None)
    _cpu_scaler(monkeypatch, 2.0 ** 12)
    scaled = InProcessEngine().train(_job(tiny_sd15, dataset, tmp_path, "scaled"), log=lambda message: None)
    from comfyui_lora_lab.engines.lora_format import load_tensors

    one, two = load_tensors(plain.lora_path)[0], load_tensors(scaled.lora_path)[0]
    assert max(float((one[key] - two[key]).abs().max()) for key in one) < 1e-6
    assert plain.losses == pytest.approx(scaled.losses, rel=1e-5)
    meta = read_meta(latest_state(scaled.run_dir))
    assert meta["grad_scaler"]["scale"] == 2.0 ** 12 and meta["grad_scaler"]["_growth_tracker"] == 4
    assert read_meta(latest_state(plain.run_dir))["grad_scaler"] is None


def test_an_overflowing_step_is_skipped_and_the_scale_backs_off(tiny_sd15, dataset, tmp_path, monkeypatch):
    _cpu_scaler(monkeypatch, 2.0 ** 10)
    trainer = Trainer(_job(tiny_sd15, dataset, tmp_path, "overflow", max_steps=1), log=lambda message: None)
    trainer.check_dataset(), trainer.open_model(), trainer.plan(), trainer.build_model()
    params = list(trainer.params.values())
    before = [p.detach().clone() for p in params]
    trainer.scaler.scale(torch.ones(()))  # what the step's backward does first
    for param in params:
        param.grad = torch.full_like(param, float("inf"))
    trainer._optimizer_step(params)
    assert all(torch.equal(a, b) for a, b in zip(before, params))
    assert trainer.scaler.get_scale() == 2.0 ** 9


def test_out_of_memory_mid_run_saves_a_resumable_state_and_says_what_to_change(tiny_sd15, dataset, tmp_path,
                                                                                monkeypatch):
    real_step = Trainer.train_step

    def step_until_memory_runs_out(self):
        if self.step == 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_step(self)

    monkeypatch.setattr(Trainer, "train_step", step_until_memory_runs_out)
    job = _job(tiny_sd15, dataset, tmp_path, "oom", max_steps=5, save_every=0)
    job.memory_estimate = "estimated peak 1.0 GB"
    with pytest.raises(TrainingOutOfMemory) as raised:
        InProcessEngine().train(job, log=lambda message: None)
    message = str(raised.value)
    assert "out of cpu memory at step 4 of 5 (estimated peak 1.0 GB)" in message
    assert "steps 1-3 are saved in" in message and "gradient_checkpointing" in message
    assert json.loads((latest_state(job.run_dir) / "state.json").read_text())["step"] == 3
    monkeypatch.setattr(Trainer, "train_step", real_step)
    job.resume = True
    result = InProcessEngine().train(job, log=lambda message: None)
    assert (result.resumed_from, result.steps) == (3, 5)
