"""One device and precision policy per training run, decided once and reported in the run summary.

The device is the one asked for (``--device``, the node's setting), else the device ComfyUI runs its models
on (passed in by the bridge), else the best one present. The precision is the one asked for, else fp32 on
CPU/MPS, bf16 on a CUDA device that supports it, fp16 otherwise. fp16 gradients of a LoRA underflow without
loss scaling, so fp16 always comes with a GradScaler (bf16 has fp32's exponent range and needs none).
Everything else follows the policy: where the models and the LoRA live, autocast, where collectives put
their tensors (``distributed``), the RNG and scaler state in checkpoints (``state``).
"""

from __future__ import annotations

from dataclasses import dataclass

DTYPE_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "bf16": 2}


class PolicyError(ValueError):
    """A device or precision that cannot work here; the message names the setting and what is possible."""


@dataclass(frozen=True)
class DevicePolicy:
    """Where a run computes and in which number format; ``reason`` says where the device choice came from."""

    device: str
    precision: str
    reason: str

    @property
    def device_type(self) -> str:
        return self.device.split(":", 1)[0]

    @property
    def uses_grad_scaler(self) -> bool:
        return self.precision == "fp16"

    @property
    def autocast(self) -> bool:
        return self.precision != "fp32"

    @property
    def dtype(self):
        import torch

        return getattr(torch, DTYPE_NAMES[self.precision])

    def text(self) -> str:
        scaler = ", GradScaler on" if self.uses_grad_scaler else ""
        return f"{self.device} {self.precision}{scaler} ({self.reason})"

    def grad_scaler(self):
        """A GradScaler for fp16 (loss scaling against underflowing gradients); None for bf16/fp32."""
        if not self.uses_grad_scaler:
            return None
        import torch

        return torch.amp.GradScaler(self.device_type)


def _present_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def resolve_device(requested: str, host_device: str | None = None) -> tuple[str, str]:
    """(device, why): the asked-for device, else ComfyUI's (``host_device``), else the best one present."""
    if requested and requested != "auto":
        return requested, "asked for"
    if host_device:
        return host_device, "the device ComfyUI runs its models on"
    return _present_device(), "the best device present"


def bf16_supported(device_type: str) -> bool:
    import torch

    return device_type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def resolve_precision(requested: str, device_type: str, bf16: bool | None = None) -> str:
    """The asked-for precision (checked), else fp32 off CUDA, bf16 where supported, fp16 otherwise."""
    bf16 = bf16_supported(device_type) if bf16 is None else bf16
    if requested in (None, "", "auto"):
        if device_type != "cuda":
            return "fp32"
        return "bf16" if bf16 else "fp16"
    if requested not in DTYPE_NAMES:
        raise PolicyError(f"precision: expected auto, {', '.join(DTYPE_NAMES)}, got {requested!r}")
    if requested == "fp16" and device_type == "cpu":
        raise PolicyError("precision: fp16 training is not supported on the cpu (no fp16 kernels for the backward); "
                          "use fp32 or bf16 there")
    if requested == "bf16" and device_type == "cuda" and not bf16:
        raise PolicyError("precision: this GPU has no bf16 support; use fp16 (with loss scaling) or fp32")
    return requested


def choose_policy(device: str = "auto", precision: str = "auto", host_device: str | None = None,
                  bf16: bool | None = None) -> DevicePolicy:
    """The run's policy from the settings and (inside ComfyUI) the device ComfyUI uses."""
    chosen, reason = resolve_device(device, host_device)
    return DevicePolicy(chosen, resolve_precision(precision, chosen.split(":", 1)[0], bf16), reason)
