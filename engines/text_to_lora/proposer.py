"""A Text-to-LoRA-style hypernetwork: prompt embedding -> a LoRA proposal the optimiser starts from.

Architecture after Sakana's T2L (``hyper_modulator.py``): the prompt embedding (the unmodified target encoder's
pooled state) goes through a task encoder to ``latent/2``; a learned layer-depth embedding and a module-type
embedding (``latent/4`` each) are concatenated; a mixer, two residual MLP blocks and an up-projection give
``head_in`` features per (layer, module) row, and a per-module-type linear head emits that module's A and B.
All rows go through in one batched pass. The heads start at the standard LoRA init (A = a fixed Kaiming draw,
B = 0), so an untrained proposer proposes exactly what the optimiser would start from anyway.

Files are safetensors: the weights plus the architecture and what it was trained for (config name, component,
encoder fingerprint, rank, slots) as metadata; :func:`load_proposer` refuses a file made for another encoder.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .assembler import LoraAssembly, ModuleSlot

FORMAT = "lora_lab.t2l.proposer/1"


@dataclass(frozen=True)
class ProposerSpec:
    """Architecture + the LoRA layout it emits."""

    component: str
    config_name: str
    fingerprint: str
    embed_dim: int
    rank: int
    alpha: float
    slots: tuple[tuple[str, int, int], ...]  # (path, in, out) in assembly order
    latent: int = 128
    head_in: int = 256

    @property
    def assembly(self) -> LoraAssembly:
        return LoraAssembly(self.component, tuple(ModuleSlot(*s) for s in self.slots), self.rank, self.alpha)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProposerSpec:
        raw = json.loads(text)
        raw["slots"] = tuple(tuple(s) for s in raw["slots"])
        return cls(**raw)


class _Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm, self.inner, self.outer = nn.LayerNorm(width), nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x):
        return x + self.outer(nn.functional.silu(self.inner(self.norm(x))))


class Proposer(nn.Module):
    def __init__(self, spec: ProposerSpec, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.spec = spec
        assembly = spec.assembly
        self.types = sorted({slot.module_type for slot in assembly.slots})
        layers = 1 + max(slot.layer for slot in assembly.slots)
        quarter = spec.latent // 4
        self.task = nn.Linear(spec.embed_dim, spec.latent - 2 * quarter)
        self.layer_embedding = nn.Embedding(layers, quarter)
        self.module_embedding = nn.Embedding(len(self.types), quarter)
        self.mixer = nn.Sequential(nn.Linear(spec.latent, spec.latent), nn.SiLU())
        self.blocks = nn.Sequential(_Residual(spec.latent), _Residual(spec.latent))
        self.up = nn.Sequential(nn.Linear(spec.latent, spec.head_in), nn.SiLU())
        shapes = {slot.module_type: (slot.in_features, slot.out_features) for slot in assembly.slots}
        self.heads = nn.ModuleDict({t: nn.Linear(spec.head_in, spec.rank * sum(shapes[t])) for t in self.types})
        self.register_buffer("layer_index", torch.tensor([slot.layer for slot in assembly.slots]))
        self.register_buffer("type_index", torch.tensor([self.types.index(s.module_type) for s in assembly.slots]))
        self._init_heads(assembly, shapes, seed)

    def _init_heads(self, assembly: LoraAssembly, shapes, seed: int) -> None:
        """Small weights; bias = the standard LoRA init (A Kaiming-uniform draw, B zero)."""
        standard = assembly.split(assembly.initial(seed))
        with torch.no_grad():
            for module_type, head in self.heads.items():
                head.weight.mul_(1e-2)
                in_features, _ = shapes[module_type]
                path = next(s.path for s in assembly.slots if s.module_type == module_type)
                head.bias.zero_()
                head.bias[: self.spec.rank * in_features] = standard[path][0].reshape(-1)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """(batch, embed_dim) -> (batch, assembly.size) flat LoRA vectors."""
        embedding = nn.functional.layer_norm(embedding, embedding.shape[-1:])
        batch, rows = embedding.shape[0], len(self.layer_index)
        task = self.task(embedding).unsqueeze(1).expand(batch, rows, -1)
        context = torch.cat([task, self.layer_embedding(self.layer_index).expand(batch, -1, -1),
                             self.module_embedding(self.type_index).expand(batch, -1, -1)], dim=-1)
        features = self.up(self.blocks(self.mixer(context)))
        parts = []
        for row, slot in enumerate(self.spec.assembly.slots):
            parts.append(self.heads[slot.module_type](features[:, row]))
        return torch.cat(parts, dim=-1)

    def propose(self, embedding: torch.Tensor) -> torch.Tensor:
        """One prompt's flat LoRA proposal (no gradient)."""
        with torch.no_grad():
            return self(embedding.reshape(1, -1).float())[0].detach()


def save_proposer(path: str | os.PathLike[str], proposer: Proposer, training: dict | None = None,
                  overwrite: bool = False) -> Path:
    from ..lora_format import save_tensors

    tensors = {name: value.detach().contiguous() for name, value in proposer.state_dict().items()}
    metadata = {"lora_lab.format": FORMAT, "lora_lab.t2l.proposer": proposer.spec.to_json(),
                "lora_lab.t2l.training": json.dumps(training or {}, sort_keys=True)}
    return save_tensors(path, tensors, metadata, overwrite=overwrite)


def load_proposer(path: str | os.PathLike[str], assembly: LoraAssembly | None = None,
                  fingerprint: str | None = None) -> Proposer:
    """Load a proposer file, checking it emits ``assembly``'s layout for the encoder with ``fingerprint``."""
    from ..lora_format import load_tensors

    tensors, metadata = load_tensors(path)
    if metadata.get("lora_lab.format") != FORMAT:
        raise ValueError(f"{path} is not a text-to-LoRA proposer file (format {metadata.get('lora_lab.format')!r})")
    spec = ProposerSpec.from_json(metadata["lora_lab.t2l.proposer"])
    if fingerprint is not None and spec.fingerprint != fingerprint:
        raise ValueError(f"proposer {path} was trained for encoder {spec.fingerprint} ({spec.config_name}/"
                         f"{spec.component}), not this one ({fingerprint})")
    if assembly is not None and (spec.assembly.slots != assembly.slots or spec.rank != assembly.rank):
        raise ValueError(f"proposer {path} emits rank {spec.rank} over {len(spec.slots)} modules; this run needs "
                         f"rank {assembly.rank} over {len(assembly.slots)} modules of '{assembly.component}'")
    proposer = Proposer(spec)
    proposer.load_state_dict(tensors)
    return proposer.eval()


def training_info(path: str | os.PathLike[str]) -> dict:
    from ..lora_format import read_header

    return json.loads(read_header(path).metadata.get("lora_lab.t2l.training", "{}"))
