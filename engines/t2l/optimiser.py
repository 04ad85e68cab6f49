"""The per-prompt optimiser: Adam on one encoder's flat LoRA vector against -score + keep + weight decay.

Loss = NLL(prompt tokens | LoRA states) + keep_weight * drift(states vs the unmodified encoder)
       + weight_decay * |scale * B A|^2 (summed over modules; independent of how the delta is factored).
Stops after ``steps``, when the loss has improved by less than ``tolerance`` (relative) over the last
``patience`` steps, or when ``time_budget_s`` is spent. Seeded and deterministic on a given machine. A
non-finite loss or parameter stops the run and is reported; the caller writes nothing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from ..progress import Progress, no_progress
from .assembler import LoraAssembly
from .scorer import PromptScorer


class NonFiniteError(ValueError):
    """The optimisation produced NaN/inf; carries the step and the last finite values."""


@dataclass(frozen=True)
class OptimiseConfig:
    steps: int = field(default=50, metadata={"help": "maximum Adam steps"})
    learning_rate: float = field(default=1e-2, metadata={"help": "Adam step size"})
    keep_weight: float = field(default=1.0, metadata={"help": "weight of the state-drift (keep) term"})
    weight_decay: float = field(default=0.0, metadata={"help": "weight of |scale B A|^2"})
    tolerance: float = field(default=0.0, metadata={"help": "stop when the loss improves less (relative) than this"})
    patience: int = field(default=5, metadata={"help": "steps the tolerance is measured over"})
    time_budget_s: float = field(default=0.0, metadata={"help": "stop after this many seconds (0 = no limit)"})
    seed: int = field(default=0, metadata={"help": "seed of the LoRA's A initialisation"})

    def __post_init__(self) -> None:
        checks = {
            "steps": (self.steps, 0, 100_000), "learning_rate": (self.learning_rate, 1e-8, 10.0),
            "keep_weight": (self.keep_weight, 0.0, 1e6), "weight_decay": (self.weight_decay, 0.0, 1e6),
            "tolerance": (self.tolerance, 0.0, 1.0), "patience": (self.patience, 1, 10_000),
            "time_budget_s": (self.time_budget_s, 0.0, 86_400.0), "seed": (self.seed, 0, 2**63 - 1),
        }
        for name, (value, low, high) in checks.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"optimiser {name} must be a number, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"optimiser {name} must be in [{low}, {high}], got {value}")
        for name in ("steps", "patience", "seed"):
            if not isinstance(getattr(self, name), int):
                raise ValueError(f"optimiser {name} must be an integer, got {getattr(self, name)!r}")


@dataclass
class OptimiseResult:
    flat: torch.Tensor
    nll: list[float]  # per step, before the update; nll[0] is the start (proposal or B = 0)
    loss: list[float]
    drift: list[float]
    final_nll: float
    final_drift: float
    final_pooled_cos: float
    steps_run: int
    stopped: str  # steps | tolerance | time
    seconds: float


def weight_penalty(assembly: LoraAssembly, flat: torch.Tensor) -> torch.Tensor:
    return assembly.delta_norms(flat).sum()


def optimise(scorer: PromptScorer, assembly: LoraAssembly, start: torch.Tensor, config: OptimiseConfig,
             progress: Progress = no_progress, progress_offset: int = 0, progress_total: int | None = None
             ) -> OptimiseResult:
    """Run Adam from ``start`` (a flat vector, not modified). Raises NonFiniteError on NaN/inf."""
    begin = time.perf_counter()
    flat = start.detach().clone().requires_grad_(True)
    adam = torch.optim.Adam([flat], lr=config.learning_rate)
    history: dict[str, list[float]] = {"nll": [], "loss": [], "drift": []}
    stopped, total = "steps", progress_total or config.steps
    for step in range(config.steps):
        loss = _step(scorer, assembly, flat, config, history, step)
        adam.zero_grad(set_to_none=True)
        loss.backward()
        adam.step()
        if not torch.isfinite(flat).all():
            raise NonFiniteError(f"LoRA parameters became NaN/inf after step {step + 1} "
                                 f"(last loss {history['loss'][-1]:.4g}); lower the learning rate")
        progress(progress_offset + step + 1, total, f"{assembly.component} step {step + 1}: nll {history['nll'][-1]:.4f}")
        if _converged(history["loss"], config):
            stopped = "tolerance"
            break
        if config.time_budget_s and time.perf_counter() - begin >= config.time_budget_s:
            stopped = "time"
            break
    with torch.no_grad():
        final = scorer.terms(assembly.lora_params(flat))
    if not torch.isfinite(final.nll):
        raise NonFiniteError("the final score is NaN/inf; lower the learning rate")
    return OptimiseResult(flat.detach(), history["nll"], history["loss"], history["drift"], float(final.nll),
                          float(final.drift), float(final.pooled_cos), len(history["nll"]), stopped,
                          time.perf_counter() - begin)


def _step(scorer, assembly, flat, config, history, step) -> torch.Tensor:
    terms = scorer.terms(assembly.lora_params(flat), with_keep=config.keep_weight > 0)
    loss = terms.nll + config.keep_weight * terms.drift
    if config.weight_decay:
        loss = loss + config.weight_decay * weight_penalty(assembly, flat)
    if not torch.isfinite(loss):
        raise NonFiniteError(f"loss is NaN/inf at step {step + 1} (nll {float(terms.nll.detach()):.4g}, "
                             f"drift {float(terms.drift.detach()):.4g}); lower the learning rate")
    history["nll"].append(float(terms.nll.detach()))
    history["loss"].append(float(loss.detach()))
    history["drift"].append(float(terms.drift.detach()))
    return loss


def _converged(losses: list[float], config: OptimiseConfig) -> bool:
    if not config.tolerance or len(losses) <= config.patience:
        return False
    before, now = losses[-1 - config.patience], losses[-1]
    return (before - now) <= config.tolerance * max(abs(before), 1e-12)
