"""What every functional text encoder provides, and the LoRA-aware linear they all use.

The encoders here are plain functions over a dict of frozen tensors (private fp32 copies of the model's weights,
under the transformers/ComfyUI key names). A LoRA is passed per call as ``{module path: (A, B, scale)}``, so the
optimiser's parameters are the only tensors that need gradients and no module is ever modified: no wrapper
modules, no hooks, nothing shared with ComfyUI's model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

LoraParams = Mapping[str, tuple[torch.Tensor, torch.Tensor, float]]  # path -> (A r x in, B out x r, scale)


@dataclass
class EncoderOutput:
    """States of one forward pass, each (batch, positions, width).

    ``final`` is what the tied readout reads (after the final norm); ``conditioning`` is the state the diffusion
    model reads (the configured layer); ``pooled`` is (batch, width): CLIP's end-token state, else the mean.
    """

    final: torch.Tensor
    conditioning: torch.Tensor
    pooled: torch.Tensor | None


@dataclass(frozen=True)
class ReadLayer:
    """Which state the diffusion model reads: block ``index`` counted from the end (-1 = last), and whether the
    final layer norm is applied to it (ComfyUI's ``layer_norm_hidden_state``; the last block is always normed
    when read as ComfyUI's ``"last"`` layer)."""

    index: int = -1
    normed: bool = True

    def block(self, num_layers: int) -> int:
        """0-based block whose output is read; ValueError when the encoder has fewer blocks."""
        if not -num_layers <= self.index <= -1:
            raise ValueError(f"read layer {self.index} is outside this encoder's {num_layers} blocks "
                             f"(use -1 .. -{num_layers})")
        return num_layers + self.index

    def describe(self) -> str:
        return "last" if self.index == -1 and self.normed else f"{self.index}{' normed' if self.normed else ''}"


@dataclass(frozen=True)
class SpecialTokens:
    """Ids the encoder wraps content with, and the one a bidirectional score masks with."""

    bos: int | None
    eos: int | None
    mask: int | None = None
    pad: int | None = None

    @property
    def count(self) -> int:
        return int(self.bos is not None) + int(self.eos is not None)

    def wrap(self, ids) -> list[int]:
        return ([self.bos] if self.bos is not None else []) + list(ids) + ([self.eos] if self.eos is not None else [])

    @property
    def offset(self) -> int:
        """Position of the first content token."""
        return int(self.bos is not None)


def frozen_linear(x: torch.Tensor, weight, bias: torch.Tensor | None) -> torch.Tensor:
    """``x W^T + b`` in the weight's dtype (bf16 matrices run the matmul in bf16), result in fp32."""
    if isinstance(weight, PackedMatrix):
        out = _PackedLinear.apply(x.to(weight.dtype).contiguous(), weight).float()
    elif weight.dtype == x.dtype:
        return torch.nn.functional.linear(x, weight, bias)
    else:
        out = torch.nn.functional.linear(x.to(weight.dtype), weight).float()
    return out if bias is None else out + bias


class PackedMatrix:
    """A frozen bf16 linear weight packed once by oneDNN, for ``x W^T`` and for its backward ``g W``.

    Given a plain row-major weight, oneDNN re-blocks it on every call. The hot loop multiplies a few rows (a
    20-token prompt) by each weight, so that re-blocking costs about as much as the multiply itself: packing
    once per run made the CLIP-L loop about 11% faster with bit-identical results (``tests/t2l``). It keeps a
    second, transposed copy for the backward pass.
    """

    def __init__(self, weight: torch.Tensor):
        self.weight = weight
        self.forward_packed = torch.ops.mkldnn._reorder_linear_weight(weight)
        self.backward_packed = torch.ops.mkldnn._reorder_linear_weight(weight.T.contiguous())

    @property
    def dtype(self) -> torch.dtype:
        return self.weight.dtype

    @property
    def shape(self) -> torch.Size:
        return self.weight.shape

    def dim(self) -> int:
        return 2


def packed(weight: torch.Tensor):
    """``weight`` as a :class:`PackedMatrix` when it is bf16 and this torch build has oneDNN's packed linear."""
    if weight.dtype != torch.bfloat16 or weight.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return weight
    if not hasattr(torch.ops.mkldnn, "_reorder_linear_weight"):
        return weight
    return PackedMatrix(weight)


class _PackedLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, matrix):
        ctx.matrix = matrix
        return torch.ops.mkldnn._linear_pointwise(x, matrix.forward_packed, None, "none", [], "")

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        grad = grad.to(ctx.matrix.dtype).contiguous()
        return torch.ops.mkldnn._linear_pointwise(grad, ctx.matrix.backward_packed, None, "none", [], ""), None


def lora_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, lora) -> torch.Tensor:
    """``x W^T + b + s (x A^T) B^T``: the low-rank path (fp32) never forms the full delta."""
    return add_lora(frozen_linear(x, weight, bias), x, lora)


def embed(ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.embedding(ids, table).float()


MATRIX_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def cast_matrices(weights: Mapping[str, torch.Tensor], dtype: torch.dtype,
                  device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The 2-D weights (linears, embeddings) in ``dtype`` on ``device``; norms, biases, position tables stay fp32.

    bf16 matrices make the frozen matmuls of the hot loop several times faster on CPUs with bf16 units (and on
    GPUs), while the LoRA parameters, residual stream, norms and Adam state stay fp32.
    """
    return {key: (t.to(device, dtype) if t.dim() == 2 and "position" not in key and "relative_attention" not in key
                  else t.to(device)) for key, t in weights.items()}


def add_lora(base: torch.Tensor, x: torch.Tensor, lora) -> torch.Tensor:
    """``base + s (x A^T) B^T`` (``base`` unchanged when the module has no LoRA)."""
    if lora is None:
        return base
    a, b, scale = lora
    return base + scale * torch.nn.functional.linear(torch.nn.functional.linear(x, a), b)


def private_copy(state_dict: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """fp32, CPU, detached, new storage: safe to use under autograd even if the source was an inference tensor."""
    with torch.inference_mode(False):
        return {key[len(prefix):]: tensor.detach().to("cpu", torch.float32).clone()
                for key, tensor in state_dict.items() if key.startswith(prefix)}


def linear_shapes(weights: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, int]]:
    """Every 2-D ``*.weight`` that is a linear layer: module path -> (in, out)."""
    return {key[: -len(".weight")]: (int(t.shape[1]), int(t.shape[0]))
            for key, t in weights.items() if key.endswith(".weight") and t.dim() == 2 and "embed" not in key
            and not key.endswith(("shared.weight", "relative_attention_bias.weight"))}


def require(weights: Mapping[str, torch.Tensor], key: str, what: str) -> torch.Tensor:
    """A weight by name, or a clear error saying which encoder lacks it."""
    try:
        return weights[key]
    except KeyError:
        raise ValueError(f"{what} weights have no '{key}' (found e.g. {', '.join(sorted(weights)[:3])})") from None
