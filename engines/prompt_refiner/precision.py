"""The number format a loaded refiner decodes in, chosen once at load time.

Decoding is one small matrix-vector product per layer and token, so on a CPU it is bound by how many bytes of
weights each token reads, not by arithmetic. Storing the linear layers in 8 bits (weights quantised per tensor,
activations on the fly: PyTorch's dynamic quantisation) or in bfloat16 cuts those bytes by 4x or 2x. Measured
with ``lora-lab bench refiner`` (64 new tokens at Flan-T5-base shape, 2 threads): int8 ~2.9x and bf16 ~1.5x
faster than float32; on the held-out prompts the trained refiner scored structure 0.72 / 0.76 / 0.76 and
content recall 0.42 / 0.42 / 0.42 (int8 / bf16 / fp32). ``auto`` takes int8 on the CPU (bf16 where this torch
has no dynamic quantisation: PyTorch is moving it to torchao); on a CUDA GPU it takes bf16 where the GPU
supports it (half the bytes per token, T5's fp32 exponent range) and float32 otherwise. fp16 is offered on
GPUs only and never chosen by ``auto``: T5's activations overflow fp16's range on some inputs.
"""

from __future__ import annotations

import warnings

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
CPU_ONLY = frozenset({"int8"})
GPU_ONLY = frozenset({"fp16"})


def resolve_precision(precision: str, device: str) -> str:
    """The concrete format for ``precision`` on ``device``, or a ValueError naming what is possible."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        if device == "cpu":
            return "int8" if int8_available() else "bf16"
        return "bf16" if device.startswith("cuda") and cuda_bf16() else "fp32"
    if precision in CPU_ONLY and device != "cpu":
        raise ValueError(f"precision '{precision}' runs on the cpu only; use fp32 or bf16 on '{device}'")
    if precision in GPU_ONLY and device == "cpu":
        raise ValueError(f"precision '{precision}' runs on a GPU only; use int8, bf16 or fp32 on the cpu")
    if precision == "int8" and not int8_available():
        raise ValueError("precision 'int8' needs torch.ao.quantization.quantize_dynamic, which this torch does not "
                         "have; use bf16")
    return precision


def cuda_bf16() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def int8_available() -> bool:
    try:
        from torch.ao.quantization import quantize_dynamic  # noqa: F401
    except ImportError:
        return False
    return True


def convert(model, precision: str):
    """``model`` (float32, eval mode) in the concrete ``precision``; int8 replaces its linear layers."""
    import torch

    if precision == "fp32":
        return model
    if precision == "bf16":
        return model.to(torch.bfloat16)
    if precision == "fp16":
        return model.to(torch.float16)
    with warnings.catch_warnings():  # PyTorch announces that torchao will take this API over
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
