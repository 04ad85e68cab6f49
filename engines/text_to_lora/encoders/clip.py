"""CLIP's text transformer as a function of frozen weights and a LoRA: the hot loop of the optimiser.

Same maths as transformers' ``CLIPTextModel`` and ComfyUI's ``comfy.clip_model`` (pre-norm blocks, causal mask,
final layer norm), with four things done for speed: q, k and v are one fused matmul, the LoRA is applied as
two thin matmuls beside the frozen one (never a merged weight), bf16 matrices are packed once for oneDNN
(:class:`~.base.PackedMatrix`), and the blocks above the read layer run only when the pooled output (which
comes from the last block) is needed. The read layer follows ComfyUI's ``SDClipModel``: the output of block
``num_layers + conditioning_layer``, passed through the final layer norm when ``layer_norm_hidden_state``.
The pooled output is the final-normed end-token state before ComfyUI's fixed linear projection (SDXL projects
it, Flux does not); keeping the unprojected vector bounds the projected one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from .base import (
    EncoderOutput,
    ReadLayer,
    LoraParams,
    add_lora,
    cast_matrices,
    embed,
    frozen_linear,
    lora_linear,
    packed,
    require,
)

ACTIVATIONS = {
    "quick_gelu": lambda a: a * torch.sigmoid(1.702 * a),
    "gelu": F.gelu,
    "gelu_pytorch_tanh": lambda a: F.gelu(a, approximate="tanh"),
}
PREFIX = "text_model."
LAYER = "text_model.encoder.layers.{}."


class ClipEncoder:
    """A causal CLIP text encoder over private weights (keys as in ``CLIPTextModel.state_dict()``)."""

    kind = "clip"
    causal = True

    def __init__(self, weights: Mapping[str, torch.Tensor], heads: int, activation: str = "quick_gelu",
                 conditioning_layer: int = -1, eps: float = 1e-5, matrix_dtype: torch.dtype = torch.float32,
                 layer_norm_hidden_state: bool = True, device: str | torch.device = "cpu"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown CLIP activation '{activation}', expected one of {', '.join(ACTIVATIONS)}")
        self.options = dict(heads=heads, activation=activation, conditioning_layer=conditioning_layer, eps=eps,
                            layer_norm_hidden_state=layer_norm_hidden_state)
        self.source = dict(weights)
        self.device = torch.device(device)
        self.weights = cast_matrices(self.source, matrix_dtype, self.device)
        self.token_embedding = require(self.weights, PREFIX + "embeddings.token_embedding.weight", "CLIP")
        self.position_embedding = require(self.weights, PREFIX + "embeddings.position_embedding.weight", "CLIP")
        self.num_layers = _count_layers(self.weights)
        self.hidden_size = int(self.token_embedding.shape[1])
        if self.hidden_size % heads:
            raise ValueError(f"CLIP width {self.hidden_size} is not divisible by {heads} heads")
        self.heads, self.activation, self.eps = heads, ACTIVATIONS[activation], eps
        self.activation_name = activation
        self.read_layer = ReadLayer(conditioning_layer, layer_norm_hidden_state)
        self.read_block = self.read_layer.block(self.num_layers)
        self.max_positions = int(self.position_embedding.shape[0])
        self._fused = [self._fuse(i) for i in range(self.num_layers)]
        for index in range(self.num_layers):  # q, k, v are packed fused; the rest of each block's matrices here
            for name in ("self_attn.out_proj", "mlp.fc1", "mlp.fc2"):
                key = LAYER.format(index) + name + ".weight"
                self.weights[key] = packed(self.weights[key])

    @property
    def vocab_size(self) -> int:
        return int(self.token_embedding.shape[0])

    def with_matrix_dtype(self, dtype: torch.dtype, device: str | torch.device | None = None) -> ClipEncoder:
        """The same encoder with its matrices in ``dtype`` on ``device`` (shares the fp32 source weights)."""
        return ClipEncoder(self.source, **self.options, matrix_dtype=dtype, device=device or self.device)

    def with_read_layer(self, layer: int, normed: bool) -> ClipEncoder:
        """The same weights read at another layer (what ComfyUI's CLIP Set Last Layer selects)."""
        return ClipEncoder(self.source, **(self.options | dict(conditioning_layer=layer,
                                                               layer_norm_hidden_state=normed)),
                           matrix_dtype=self.weights[PREFIX + "embeddings.token_embedding.weight"].dtype,
                           device=self.device)

    @property
    def readout(self) -> torch.Tensor:
        """The tied readout: the token-embedding matrix (vocab x width)."""
        return self.token_embedding

    def _fuse(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        prefix = LAYER.format(index) + "self_attn."
        weight = torch.cat([self.weights[prefix + f"{p}_proj.weight"] for p in "qkv"])
        bias = torch.cat([self.weights[prefix + f"{p}_proj.bias"] for p in "qkv"])
        return packed(weight), bias

    def forward(self, ids: torch.Tensor, lora: LoraParams | None = None, pooled_index: int = -1,
                need_pooled: bool = True) -> EncoderOutput:
        """States for ``ids`` (batch, positions); ``pooled_index`` is the end token's position.

        ``conditioning`` is the read block's output (final-normed when the read layer says so, as ComfyUI's
        ``layer_norm_hidden_state``); the blocks above it run only when the pooled output is wanted.
        """
        if ids.shape[1] > self.max_positions:
            raise ValueError(f"{ids.shape[1]} positions exceed CLIP's window of {self.max_positions}")
        lora = lora or {}
        x = embed(ids, self.token_embedding) + self.position_embedding[: ids.shape[1]]
        last = self.num_layers if need_pooled else self.read_block + 1
        conditioning = None
        for index in range(last):
            x = self._block(x, index, lora)
            if index == self.read_block:
                conditioning = self._final_norm(x) if self.read_layer.normed else x
        if not need_pooled:
            return EncoderOutput(conditioning, conditioning, None)
        final = self._final_norm(x)
        return EncoderOutput(final, conditioning, final[:, pooled_index])

    def _final_norm(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.hidden_size,), self.weights[PREFIX + "final_layer_norm.weight"],
                            self.weights[PREFIX + "final_layer_norm.bias"], self.eps)

    def _block(self, x: torch.Tensor, index: int, lora: LoraParams) -> torch.Tensor:
        prefix = LAYER.format(index)
        w = self.weights
        h = F.layer_norm(x, (self.hidden_size,), w[prefix + "layer_norm1.weight"], w[prefix + "layer_norm1.bias"],
                         self.eps)
        x = x + self._attention(h, index, lora)
        h = F.layer_norm(x, (self.hidden_size,), w[prefix + "layer_norm2.weight"], w[prefix + "layer_norm2.bias"],
                         self.eps)
        h = lora_linear(h, w[prefix + "mlp.fc1.weight"], w[prefix + "mlp.fc1.bias"], lora.get(prefix + "mlp.fc1"))
        h = lora_linear(self.activation(h), w[prefix + "mlp.fc2.weight"], w[prefix + "mlp.fc2.bias"],
                        lora.get(prefix + "mlp.fc2"))
        return x + h

    def _attention(self, h: torch.Tensor, index: int, lora: LoraParams) -> torch.Tensor:
        prefix = LAYER.format(index) + "self_attn."
        weight, bias = self._fused[index]
        q, k, v = frozen_linear(h, weight, bias).split(self.hidden_size, dim=-1)
        q, k, v = (add_lora(t, h, lora.get(prefix + f"{p}_proj")) for t, p in ((q, "q"), (k, "k"), (v, "v")))
        batch, length, _ = h.shape
        head_dim = self.hidden_size // self.heads
        q, k, v = (t.view(batch, length, self.heads, head_dim).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / math.sqrt(head_dim))
        out = out.transpose(1, 2).reshape(batch, length, self.hidden_size)
        return lora_linear(out, self.weights[prefix + "out_proj.weight"], self.weights[prefix + "out_proj.bias"],
                           lora.get(prefix + "out_proj"))


def _count_layers(weights: Mapping[str, torch.Tensor]) -> int:
    indices = {int(key.split(".")[3]) for key in weights if key.startswith("text_model.encoder.layers.")}
    if not indices:
        raise ValueError("CLIP weights have no 'text_model.encoder.layers.*' entries")
    return max(indices) + 1


def canonical_keys(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ComfyUI/kohya naming (``text_model.*``); transformers 5 drops that prefix from ``CLIPTextModel``."""
    return {key if key.startswith(PREFIX) else PREFIX + key: value for key, value in weights.items()}


def from_transformers(model, conditioning_layer: int = -1, layer_norm_hidden_state: bool = True) -> ClipEncoder:
    """A private functional copy of a transformers ``CLIPTextModel``."""
    from .base import private_copy

    config = model.config
    weights = canonical_keys(private_copy(model.state_dict()))
    return ClipEncoder(weights, config.num_attention_heads, config.hidden_act, conditioning_layer,
                       getattr(config, "layer_norm_eps", 1e-5), layer_norm_hidden_state=layer_norm_hidden_state)
