"""Where and in what precision Text to LoRA runs, and whether it fits: decided before anything is loaded.

Policy (one for every run, reported in the run summary):

* device: the one asked for (``--device``), else the device ComfyUI put the text encoder on, else the CPU;
* on CUDA the frozen matrices are bf16 where the GPU supports it, else fp16 with dynamic loss scaling (the
  optimiser's ``GradScaler``); the LoRA parameters, residual stream, norms and Adam state stay fp32;
* on the CPU compute is fp32; the frozen matrices are bf16 only where oneDNN has native bf16 (``auto``), which is
  several times faster there and stays within the tests' tolerance of fp32.

:func:`estimate_bytes` sizes a run from the config alone (weights, the hot-loop copy, activations for the masked
copies x the padded window, with or without gradient checkpointing), so a T5-XXL preset that cannot fit is
refused with the figure before its 19 GB of weights are read.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import ConfigError, EncoderTarget

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
FFN_WIDTH = {"clip": 4.0, "bert": 4.0, "t5": 2.5}  # feed-forward width / hidden width (T5-XXL: 10240 / 4096)
FFN_MATRICES = {"clip": 2, "bert": 2, "t5": 3}  # T5 v1.1 is gated: wi_0, wi_1, wo


@dataclass(frozen=True)
class Capabilities:
    """What this machine offers (a parameter, so the policy is tested on a CPU-only machine)."""

    cuda_devices: int
    cuda_bf16: bool
    cpu_bf16: bool

    @classmethod
    def detect(cls) -> Capabilities:
        cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
        try:
            cpu_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            cpu_bf16 = False
        return cls(cuda, bool(cuda and torch.cuda.is_bf16_supported()), cpu_bf16)


@dataclass(frozen=True)
class DevicePlan:
    device: str
    matrix_dtype: torch.dtype
    loss_scaling: bool
    why: str

    def summary(self) -> dict:
        return {"device": self.device, "matrices": str(self.matrix_dtype).replace("torch.", ""),
                "compute": "float32 (LoRA, residual stream, norms, Adam)", "loss_scaling": self.loss_scaling,
                "why": self.why}


def plan(requested: str | None = None, encoder_device: str | None = None, precision: str = "auto",
         capabilities: Capabilities | None = None) -> DevicePlan:
    """The device and matrix precision for a run; ConfigError (before any work) for one this machine lacks."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    caps = capabilities or Capabilities.detect()
    device, source = _device(requested, encoder_device, caps)
    if device == "cpu":
        if precision == "float16":
            raise ConfigError("precision float16 is for GPUs without bf16; on the CPU use auto, float32 or bfloat16")
        bf16 = precision == "bfloat16" or (precision == "auto" and caps.cpu_bf16)
        why = f"{source}; CPU: fp32 compute" + (", bf16 matrices (oneDNN native bf16)" if bf16 else "")
        return DevicePlan("cpu", torch.bfloat16 if bf16 else torch.float32, False, why)
    if precision == "auto":
        precision = "bfloat16" if caps.cuda_bf16 else "float16"
    if precision == "bfloat16" and not caps.cuda_bf16:
        raise ConfigError(f"{device} has no bf16 support; use precision float16 (loss-scaled) or auto")
    why = f"{source}; CUDA: {precision} matrices" + (" with dynamic loss scaling" if precision == "float16" else "")
    return DevicePlan(device, DTYPES[precision], precision == "float16", why)


def _device(requested: str | None, encoder_device: str | None, caps: Capabilities) -> tuple[str, str]:
    if requested and requested != "auto":
        name, source = requested, "asked for"
    elif encoder_device:
        name, source = str(encoder_device), "where ComfyUI put the text encoder"
    else:
        name, source = "cpu", "default"
    kind, _, index = name.partition(":")
    if kind == "cpu" and not index:
        return "cpu", f"cpu ({source})"
    if kind != "cuda" or (index and not index.isdigit()):
        raise ConfigError(f"device must be cpu, cuda or cuda:N, got {name!r}")
    number = int(index or 0)
    if number >= caps.cuda_devices:
        raise ConfigError(f"device {name!r} ({source}) is not available: this machine has "
                          f"{caps.cuda_devices} CUDA device(s)")
    return f"cuda:{number}", f"cuda:{number} ({source})"


def parameter_count(target: EncoderTarget) -> int:
    """Weights of an encoder from its config's dimensions (embeddings + attention + feed-forward)."""
    hidden = target.hidden_size
    ffn = FFN_WIDTH[target.kind] * hidden * FFN_MATRICES[target.kind]
    return int(target.vocab_size * hidden + target.num_layers * (4 * hidden * hidden + ffn * hidden))


def estimate_bytes(target: EncoderTarget, prompt_tokens: int, device_plan: DevicePlan, checkpointing: bool = False,
                   source_on_cpu: bool = True) -> dict:
    """Peak bytes of one encoder's run: {"cpu": ..., device: ...} (the same key when the device is the CPU).

    Weights: the private fp32 source copy (CPU) plus the hot loop's matrices in the plan's dtype (device).
    Activations kept for the backward: per block about 10 x hidden + 2 x ffn values per position (fp32) and the
    attention map, for (masked copies + 1) x the padded window; with checkpointing only each block's input is kept
    plus one block's activations.
    """
    params = parameter_count(target)
    rows = 1 if target.causal else prompt_tokens + 1
    positions = max(target.window_length, prompt_tokens + 2)
    hidden, ffn = target.hidden_size, FFN_WIDTH[target.kind] * target.hidden_size
    heads = max(1, hidden // 64)
    per_block = rows * positions * (10 * hidden + 2 * ffn) * 4 + rows * heads * positions * positions * 4
    kept = rows * positions * hidden * 4 * target.num_layers + per_block if checkpointing \
        else per_block * target.num_layers
    logits = prompt_tokens * target.vocab_size * 4 * 3
    device_bytes = params * torch.finfo(device_plan.matrix_dtype).bits // 8 + kept + logits
    cpu_bytes = params * 4 if source_on_cpu else 0
    if device_plan.device == "cpu":
        return {"cpu": cpu_bytes + device_bytes}
    return {"cpu": cpu_bytes, device_plan.device: device_bytes}


def check_fits(needed: dict, available: dict, what: str) -> None:
    """ConfigError naming the estimate and what to change when a device would run out of memory."""
    for device, bytes_needed in needed.items():
        free = available.get(device)
        if free is not None and bytes_needed > free:
            raise ConfigError(
                f"{what} needs about {bytes_needed / 2**30:.1f} GiB on {device} but {free / 2**30:.1f} GiB are "
                "available; use a GPU (bf16 halves the matrices), gradient checkpointing, a shorter prompt, or a "
                "preset without this encoder")


def available_bytes(devices) -> dict:
    """Free memory per device name (CPU: MemAvailable; CUDA: free device memory)."""
    out = {}
    for device in set(devices):
        if device == "cpu":
            out["cpu"] = _cpu_available()
        elif device.startswith("cuda") and torch.cuda.is_available():
            out[device] = torch.cuda.mem_get_info(torch.device(device))[0]
    return {k: v for k, v in out.items() if v is not None}


def _cpu_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
