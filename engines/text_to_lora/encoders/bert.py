"""BERT (e.g. all-MiniLM-L6-v2) as a function of frozen weights and a LoRA; bidirectional, post-norm.

Same maths as transformers' ``BertModel`` in eval mode (keys as in its ``state_dict()``). The pooled state is the
mean over tokens, as sentence-transformers pools all-MiniLM-L6-v2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from .base import EncoderOutput, LoraParams, ReadLayer, cast_matrices, embed, lora_linear, require

LAYER = "encoder.layer.{}."
ACTIVATIONS = {"gelu": F.gelu, "gelu_new": lambda a: F.gelu(a, approximate="tanh"), "relu": F.relu}


class BertEncoder:
    kind = "bert"
    causal = False

    def __init__(self, weights: Mapping[str, torch.Tensor], heads: int, activation: str = "gelu",
                 eps: float = 1e-12, matrix_dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown BERT activation '{activation}', expected one of {', '.join(ACTIVATIONS)}")
        self.options = dict(heads=heads, activation=activation, eps=eps)
        self.source = dict(weights)
        self.device = torch.device(device)
        self.weights = cast_matrices(self.source, matrix_dtype, self.device)
        self.word_embedding = require(self.weights, "embeddings.word_embeddings.weight", "BERT")
        self.hidden_size = int(self.word_embedding.shape[1])
        self.num_layers = 1 + max(int(k.split(".")[2]) for k in self.weights if k.startswith("encoder.layer."))
        self.heads, self.eps, self.activation = heads, eps, ACTIVATIONS[activation]
        self.read_layer = ReadLayer(-1, True)
        self.read_block = self.num_layers - 1
        self.max_positions = int(self.weights["embeddings.position_embeddings.weight"].shape[0])

    @property
    def vocab_size(self) -> int:
        return int(self.word_embedding.shape[0])

    def with_matrix_dtype(self, dtype: torch.dtype, device: str | torch.device | None = None) -> BertEncoder:
        return BertEncoder(self.source, **self.options, matrix_dtype=dtype, device=device or self.device)

    @property
    def readout(self) -> torch.Tensor:
        return self.word_embedding

    def _norm(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        return F.layer_norm(x, (self.hidden_size,), self.weights[prefix + ".weight"], self.weights[prefix + ".bias"],
                            self.eps)

    def forward(self, ids: torch.Tensor, lora: LoraParams | None = None, pooled_index: int = -1,
                need_pooled: bool = True) -> EncoderOutput:
        if ids.shape[1] > self.max_positions:
            raise ValueError(f"{ids.shape[1]} positions exceed BERT's window of {self.max_positions}")
        lora = lora or {}
        w = self.weights
        x = (embed(ids, self.word_embedding) + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
             + w["embeddings.token_type_embeddings.weight"][0].float())
        x = self._norm(x, "embeddings.LayerNorm")
        for index in range(self.num_layers):
            x = self._block(x, index, lora)
        return EncoderOutput(x, x, x.mean(dim=1))

    def _block(self, x: torch.Tensor, index: int, lora: LoraParams) -> torch.Tensor:
        prefix = LAYER.format(index)
        w = self.weights

        def linear(h, name):
            return lora_linear(h, w[prefix + name + ".weight"], w[prefix + name + ".bias"], lora.get(prefix + name))

        batch, length, _ = x.shape
        head_dim = self.hidden_size // self.heads
        q, k, v = (linear(x, f"attention.self.{n}").view(batch, length, self.heads, head_dim).transpose(1, 2)
                   for n in ("query", "key", "value"))
        attended = F.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(head_dim))
        attended = attended.transpose(1, 2).reshape(batch, length, self.hidden_size)
        x = self._norm(x + linear(attended, "attention.output.dense"), prefix + "attention.output.LayerNorm")
        h = linear(self.activation(linear(x, "intermediate.dense")), "output.dense")
        return self._norm(x + h, prefix + "output.LayerNorm")


def from_transformers(model) -> BertEncoder:
    """A private functional copy of a transformers ``BertModel``."""
    from .base import private_copy

    config = model.config
    weights = private_copy({k: v for k, v in model.state_dict().items() if not k.startswith("pooler.")})
    return BertEncoder(weights, config.num_attention_heads, config.hidden_act, config.layer_norm_eps)
