"""Raw LoRA parameters <-> per-module A (r x in) and B (out x r), laid out by the target configuration.

The optimiser and the proposer work on one flat vector per encoder (one Adam state, one tensor to check for
NaN); :class:`LoraAssembly` knows where each module's A and B live in it. Splitting returns views, so gradients
flow back into the flat vector, and :meth:`LoraAssembly.join` is its exact inverse. Module paths are the
transformers/ComfyUI ones, so :meth:`LoraAssembly.to_weights` gives the foundation's canonical
``LoraWeights``, which ``save_lora`` names ``lora_te_*`` / ``lora_te1_*`` / ``lora_te2_*`` / ``lora_te3_*``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..lora_format import LoraModule, LoraWeights, ModuleKey

_LAYER_INDEX = re.compile(r"\.(\d+)\.")


@dataclass(frozen=True)
class ModuleSlot:
    """One adapted module: where it is, its widths, and the (layer, module type) the proposer conditions on."""

    path: str
    in_features: int
    out_features: int

    @property
    def layer(self) -> int:
        match = _LAYER_INDEX.search(path_with_dots(self.path))
        return int(match.group(1)) if match else 0

    @property
    def module_type(self) -> str:
        return self.path.rsplit(".", 1)[-1]


def path_with_dots(path: str) -> str:
    return f".{path}."


@dataclass(frozen=True)
class LoraAssembly:
    """The layout of one encoder's LoRA in a flat parameter vector: per slot, A (r*in values) then B (out*r)."""

    component: str
    slots: tuple[ModuleSlot, ...]
    rank: int
    alpha: float

    def __post_init__(self) -> None:
        for slot in self.slots:
            if self.rank > min(slot.in_features, slot.out_features):
                raise ValueError(f"rank {self.rank} is larger than layer '{slot.path}' "
                                 f"({slot.in_features} -> {slot.out_features})")

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    @property
    def size(self) -> int:
        return sum(self.rank * (s.in_features + s.out_features) for s in self.slots)

    def offsets(self) -> list[tuple[int, int, int]]:
        """Per slot: (start of A, start of B, end of B)."""
        out, start = [], 0
        for slot in self.slots:
            b_start = start + self.rank * slot.in_features
            end = b_start + slot.out_features * self.rank
            out.append((start, b_start, end))
            start = end
        return out

    def split(self, flat: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{path: (A, B)} as views into ``flat``."""
        if flat.shape != (self.size,):
            raise ValueError(f"expected a flat vector of {self.size} values for '{self.component}', "
                             f"got shape {tuple(flat.shape)}")
        # One split, not a slice per factor: its backward is a single concatenation of the factors' gradients,
        # where per-factor slices would each write a zero-filled full-length gradient (2 per module per step).
        pieces = flat.split([self.rank * n for slot in self.slots for n in (slot.in_features, slot.out_features)])
        return {slot.path: (pieces[2 * i].view(self.rank, slot.in_features),
                            pieces[2 * i + 1].view(slot.out_features, self.rank))
                for i, slot in enumerate(self.slots)}

    def join(self, modules: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Inverse of :meth:`split`."""
        parts = []
        for slot in self.slots:
            if slot.path not in modules:
                raise ValueError(f"no A/B for module '{slot.path}' of '{self.component}'")
            a, b = modules[slot.path]
            if tuple(a.shape) != (self.rank, slot.in_features) or tuple(b.shape) != (slot.out_features, self.rank):
                raise ValueError(f"module '{slot.path}': A {tuple(a.shape)} / B {tuple(b.shape)} do not match "
                                 f"rank {self.rank}, in {slot.in_features}, out {slot.out_features}")
            parts += [a.reshape(-1), b.reshape(-1)]
        return torch.cat(parts)

    def lora_params(self, flat: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor, float]]:
        """What the functional encoders take: {path: (A, B, alpha / rank)}."""
        return {path: (a, b, self.scale) for path, (a, b) in self.split(flat).items()}

    def initial(self, seed: int) -> torch.Tensor:
        """The standard LoRA start: A ~ Kaiming-uniform (PEFT's default), B = 0, so the delta starts at zero."""
        generator = torch.Generator().manual_seed(seed)
        modules = {}
        for slot in self.slots:
            bound = 1.0 / math.sqrt(slot.in_features)
            a = (torch.rand(self.rank, slot.in_features, generator=generator) * 2 - 1) * bound
            modules[slot.path] = (a, torch.zeros(slot.out_features, self.rank))
        return self.join(modules)

    def to_weights(self, flat: torch.Tensor) -> dict[ModuleKey, LoraModule]:
        """Canonical modules (detached copies) for ``save_lora``."""
        return {ModuleKey(self.component, path): LoraModule(a.detach().clone().contiguous(),
                                                             b.detach().clone().contiguous(), float(self.alpha))
                for path, (a, b) in self.split(flat).items()}

    def from_weights(self, weights: LoraWeights) -> torch.Tensor:
        """Flat vector from a loaded LoRA of this layout (alpha rescaled into B if it differs)."""
        modules = {}
        for key, module in weights.modules.items():
            if key.component == self.component:
                up = module.up.float() * (module.scale / self.scale)
                modules[key.path] = (module.down.float(), up)
        return self.join(modules)

    def delta_norms(self, flat: torch.Tensor) -> torch.Tensor:
        """Per-slot squared Frobenius norm of the delta ``scale * B A`` (computed with r x r matrices only)."""
        return torch.stack([gram_inner(a, b, a, b) for a, b in self.split(flat).values()]) * self.scale ** 2


def gram_inner(a1: torch.Tensor, b1: torch.Tensor, a2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """<B1 A1, B2 A2>_F = sum((A1 A2^T) * (B1^T B2)), without forming out x in matrices."""
    return ((a1 @ a2.T) * (b1.T @ b2)).sum()


def build_assembly(component: str, paths: Sequence[str], shapes: Mapping[str, tuple[int, int]], rank: int,
                   alpha: float) -> LoraAssembly:
    """Slots for ``paths`` (from config validation) with their (in, out) shapes."""
    slots = tuple(ModuleSlot(path, int(shapes[path][0]), int(shapes[path][1])) for path in paths)
    return LoraAssembly(component, slots, rank, float(alpha))


def delta_cosine(assembly: LoraAssembly, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
    """(|dW_x|, |dW_y|, cos(dW_x, dW_y)) over all modules: how close a proposal is to the optimised LoRA."""
    xs, ys = assembly.split(x.detach()), assembly.split(y.detach())
    inner = sum(float(gram_inner(*xs[p], *ys[p])) for p in xs) * assembly.scale ** 2
    nx = math.sqrt(float(assembly.delta_norms(x.detach()).sum()))
    ny = math.sqrt(float(assembly.delta_norms(y.detach()).sum()))
    return nx, ny, (inner / (nx * ny) if nx > 0 and ny > 0 else 0.0)
