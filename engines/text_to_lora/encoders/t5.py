"""A T5 encoder (SD3/Flux's T5-XXL, or any T5 v1/v1.1 encoder) as a function of frozen weights and a LoRA.

Same maths as transformers' ``T5EncoderModel`` (keys as in its ``state_dict()``, also ComfyUI's
``t5xxl.transformer.*``): RMS norm before each sub-layer, unscaled dot-product attention plus a bidirectional
relative-position bias computed by block 0 and shared by all blocks, gated or plain feed-forward.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from torch.utils.checkpoint import checkpoint

from .base import EncoderOutput, LoraParams, ReadLayer, cast_matrices, embed, lora_linear, require

BLOCK = "encoder.block.{}."
ACTIVATIONS = {"relu": F.relu, "gelu_new": lambda a: F.gelu(a, approximate="tanh"),
               "gelu_pytorch_tanh": lambda a: F.gelu(a, approximate="tanh"), "gelu": F.gelu}


class T5Encoder:
    kind = "t5"
    causal = False

    def __init__(self, weights: Mapping[str, torch.Tensor], heads: int, activation: str = "gelu_new",
                 num_buckets: int = 32, max_distance: int = 128, eps: float = 1e-6,
                 matrix_dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 checkpointing: bool = False):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown T5 activation '{activation}', expected one of {', '.join(ACTIVATIONS)}")
        self.options = dict(heads=heads, activation=activation, num_buckets=num_buckets, max_distance=max_distance,
                            eps=eps)
        self.source = dict(weights)
        self.device = torch.device(device)
        self.weights = cast_matrices(self.source, matrix_dtype, self.device)
        self.checkpointing = checkpointing
        self.shared = require(self.weights, "shared.weight", "T5")
        self.hidden_size = int(self.shared.shape[1])
        self.num_layers = 1 + max(int(k.split(".")[2]) for k in self.weights if k.startswith("encoder.block."))
        self.heads, self.activation, self.eps = heads, ACTIVATIONS[activation], eps
        self.num_buckets, self.max_distance = num_buckets, max_distance
        self.gated = (BLOCK.format(0) + "layer.1.DenseReluDense.wi_0.weight") in self.weights
        self.read_layer = ReadLayer(-1, True)
        self.read_block = self.num_layers - 1
        self.max_positions = 1 << 16

    @property
    def vocab_size(self) -> int:
        return int(self.shared.shape[0])

    def with_matrix_dtype(self, dtype: torch.dtype, device: str | torch.device | None = None,
                          checkpointing: bool | None = None) -> T5Encoder:
        """The same encoder with its matrices in ``dtype`` on ``device``; ``checkpointing`` recomputes each block's
        activations in the backward pass instead of keeping them (T5-XXL: memory for time)."""
        return T5Encoder(self.source, **self.options, matrix_dtype=dtype, device=device or self.device,
                         checkpointing=self.checkpointing if checkpointing is None else checkpointing)

    @property
    def readout(self) -> torch.Tensor:
        return self.shared

    def _rms(self, x: torch.Tensor, key: str) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weights[key] * (x * torch.rsqrt(variance + self.eps))

    def forward(self, ids: torch.Tensor, lora: LoraParams | None = None, pooled_index: int = -1,
                need_pooled: bool = True) -> EncoderOutput:
        lora = lora or {}
        x = embed(ids, self.shared)
        bias = self._position_bias(ids.shape[1])
        for index in range(self.num_layers):
            if self.checkpointing and torch.is_grad_enabled():
                x = checkpoint(self._block, x, index, bias, lora, use_reentrant=False)
            else:
                x = self._block(x, index, bias, lora)
        final = self._rms(x, "encoder.final_layer_norm.weight")
        return EncoderOutput(final, final, final.mean(dim=1))

    def _block(self, x: torch.Tensor, index: int, bias: torch.Tensor, lora: LoraParams) -> torch.Tensor:
        prefix = BLOCK.format(index)
        w = self.weights

        def linear(h, name):
            return lora_linear(h, w[prefix + name + ".weight"], None, lora.get(prefix + name))

        h = self._rms(x, prefix + "layer.0.layer_norm.weight")
        batch, length, _ = h.shape
        inner = w[prefix + "layer.0.SelfAttention.q.weight"].shape[0]
        q, k, v = (linear(h, f"layer.0.SelfAttention.{n}").view(batch, length, self.heads, inner // self.heads)
                   .transpose(1, 2) for n in "qkv")
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)
        x = x + linear(attended.transpose(1, 2).reshape(batch, length, inner), "layer.0.SelfAttention.o")
        h = self._rms(x, prefix + "layer.1.layer_norm.weight")
        if self.gated:
            h = self.activation(linear(h, "layer.1.DenseReluDense.wi_0")) * linear(h, "layer.1.DenseReluDense.wi_1")
        else:
            h = self.activation(linear(h, "layer.1.DenseReluDense.wi"))
        return x + linear(h, "layer.1.DenseReluDense.wo")

    def _position_bias(self, length: int) -> torch.Tensor:
        """(1, heads, length, length) additive bias from block 0's relative-attention table."""
        positions = torch.arange(length, device=self.device)
        buckets = relative_position_bucket(positions[None, :] - positions[:, None], self.num_buckets,
                                           self.max_distance)
        table = self.weights[BLOCK.format(0) + "layer.0.SelfAttention.relative_attention_bias.weight"]
        return F.embedding(buckets, table).permute(2, 0, 1).unsqueeze(0)


def relative_position_bucket(relative: torch.Tensor, num_buckets: int, max_distance: int) -> torch.Tensor:
    """T5's bidirectional bucketing: exact buckets for small offsets, log-spaced up to ``max_distance``."""
    half = num_buckets // 2
    buckets = (relative > 0).long() * half
    distance = relative.abs()
    exact = half // 2
    log_bucket = exact + (torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact)
                          * (half - exact)).long()
    log_bucket = log_bucket.clamp(max=half - 1)
    return buckets + torch.where(distance < exact, distance, log_bucket)


def from_transformers(model) -> T5Encoder:
    """A private functional copy of a transformers ``T5EncoderModel``."""
    from .base import private_copy

    config = model.config
    weights = private_copy({k: v for k, v in model.state_dict().items() if k != "encoder.embed_tokens.weight"})
    return T5Encoder(weights, config.num_heads, config.dense_act_fn, config.relative_attention_num_buckets,
                     config.relative_attention_max_distance, config.layer_norm_epsilon)
