"""Device and precision policy of Text to LoRA (CPU-tested with stated capabilities), loss scaling for fp16
matrices, the memory estimate that refuses a T5-XXL preset before loading, and the GPU bench helper on the CPU."""

from __future__ import annotations

import pytest
import torch

from comfyui_lora_lab.engines.text_to_lora.config import ConfigError, load_config
from comfyui_lora_lab.engines.text_to_lora.device import Capabilities, check_fits, estimate_bytes, plan

GPU_BF16 = Capabilities(cuda_devices=1, cuda_bf16=True, cpu_bf16=False)
GPU_FP16 = Capabilities(cuda_devices=2, cuda_bf16=False, cpu_bf16=True)
CPU_ONLY = Capabilities(cuda_devices=0, cuda_bf16=False, cpu_bf16=False)


def test_the_encoders_device_is_used_in_bf16_where_the_gpu_has_it():
    chosen = plan(None, "cuda:0", "auto", GPU_BF16)
    assert (chosen.device, chosen.matrix_dtype, chosen.loss_scaling) == ("cuda:0", torch.bfloat16, False)
    assert "where ComfyUI put the text encoder" in chosen.why


def test_fp16_with_loss_scaling_on_a_gpu_without_bf16_and_an_explicit_device_wins():
    chosen = plan("cuda:1", "cuda:0", "auto", GPU_FP16)
    assert (chosen.device, chosen.matrix_dtype, chosen.loss_scaling) == ("cuda:1", torch.float16, True)
    with pytest.raises(ConfigError, match="no bf16 support"):
        plan("cuda", None, "bfloat16", GPU_FP16)


def test_cpu_is_fp32_compute_with_bf16_matrices_only_where_native():
    assert plan(None, None, "auto", CPU_ONLY).matrix_dtype == torch.float32
    assert plan("cpu", None, "auto", GPU_FP16).matrix_dtype == torch.bfloat16
    assert plan(None, "cpu", "float32", GPU_FP16).summary()["matrices"] == "float32"
    with pytest.raises(ConfigError, match="float16 is for GPUs"):
        plan("cpu", None, "float16", CPU_ONLY)


@pytest.mark.parametrize("device, message", [("cuda", "has 0 CUDA"), ("cuda:x", "device must be"),
                                             ("mps", "device must be")])
def test_unavailable_devices_are_refused(device, message):
    with pytest.raises(ConfigError, match=message):
        plan(device, None, "auto", CPU_ONLY)


def test_t5xxl_is_refused_with_the_estimate_where_it_cannot_fit_and_fits_a_big_gpu():
    t5 = load_config("flux").encoder("t5xxl")
    cpu = plan("cpu", None, "float32", CPU_ONLY)
    needed = estimate_bytes(t5, 30, cpu, checkpointing=True)
    assert 35 * 2**30 < needed["cpu"] < 80 * 2**30  # 4.8e9 weights: fp32 source + fp32 loop copy + activations
    with pytest.raises(ConfigError, match=r"needs about \d+\.\d GiB on cpu but 24\.0 GiB"):
        check_fits(needed, {"cpu": 24 * 2**30}, "encoder 't5xxl'")
    gpu = plan("cuda", None, "auto", GPU_BF16)
    on_gpu = estimate_bytes(t5, 30, gpu, checkpointing=True)
    assert on_gpu["cuda:0"] < 40 * 2**30 < estimate_bytes(t5, 30, gpu, checkpointing=False)["cuda:0"]
    check_fits(on_gpu, {"cuda:0": 78 * 2**30, "cpu": 120 * 2**30}, "encoder 't5xxl'")


def test_fp16_matrices_get_loss_scaling_and_still_lower_the_nll(clip_bundle, tiny_config, flat_calibration):
    from comfyui_lora_lab.engines.text_to_lora.optimiser import OptimiseConfig, _scaler, optimise
    from comfyui_lora_lab.engines.text_to_lora.pipeline import prepare
    from comfyui_lora_lab.engines.text_to_lora.scorer import PromptScorer, ScoreWindow

    encoder = clip_bundle.encoder.with_matrix_dtype(torch.float16)
    ids = clip_bundle.tokenizer.encode_text("a red fox in the snow")
    scorer = PromptScorer(encoder, clip_bundle.tokenizer.special, ids, flat_calibration, ScoreWindow(77))
    assert isinstance(_scaler(scorer), torch.amp.GradScaler)
    assembly, _ = prepare(clip_bundle, tiny_config)
    result = optimise(scorer, assembly, assembly.initial(0), OptimiseConfig(steps=8, learning_rate=2e-3))
    assert torch.isfinite(result.flat).all() and result.final_nll < result.nll[0]


def test_gpu_bench_figures_run_on_the_cpu():
    from comfyui_lora_lab.bench.t2l_device import t2l_device_figures

    figures = t2l_device_figures("cpu", steps=2, tiny=True)
    assert figures["device"] == "cpu" and figures["steps"] == 2
    assert figures["seconds"] > 0 and figures["cpu_seconds"] > 0
    assert figures["plan"]["matrices"] in ("bfloat16", "float32")
