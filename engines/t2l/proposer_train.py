"""Training the proposer by distillation: optimise LoRAs over a prompt corpus, then regress them.

The regression target is each module's delta ``scale * B A``, not A and B themselves: a LoRA's factors are only
defined up to an invertible r x r mix, so matching factors would punish correct proposals. The loss is the
squared Frobenius distance of the deltas over all modules, divided by the target's squared norm (every prompt
counts the same), computed with r x r Gram matrices only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..progress import Progress, no_progress
from .assembler import LoraAssembly, gram_inner
from .optimiser import OptimiseConfig, optimise
from .proposer import Proposer, ProposerSpec
from .scorer import PromptScorer


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 200
    learning_rate: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 1e-4
    seed: int = 0
    latent: int = 128
    head_in: int = 256

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "latent", "head_in"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"proposer training {name} must be a positive integer, got {value!r}")
        if self.latent % 4:
            raise ValueError(f"proposer latent must be divisible by 4, got {self.latent}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"proposer learning_rate must be in (0, 1), got {self.learning_rate}")


@dataclass
class Examples:
    """Per prompt: the unmodified encoder's pooled state and the optimiser's flat LoRA."""

    prompts: list[str]
    embeddings: torch.Tensor
    targets: torch.Tensor
    seconds: float


def collect_examples(prompts: list[str], encoder, hot_encoder, tokenizer, window: int, assembly: LoraAssembly,
                     calibration, config: OptimiseConfig, progress: Progress = no_progress) -> Examples:
    """Optimise every prompt from the standard init (what the optimiser produces without a proposer)."""
    begin = time.perf_counter()
    kept, embeddings, targets = [], [], []
    for index, prompt in enumerate(prompts):
        ids = tokenizer.encode_text(prompt)[:window]
        if not ids:
            continue
        exact = PromptScorer(encoder, tokenizer.special, ids, calibration)
        hot = exact if hot_encoder is encoder else PromptScorer(hot_encoder, tokenizer.special, ids, calibration)
        result = optimise(hot, assembly, assembly.initial(config.seed), config)
        kept.append(prompt)
        embeddings.append(exact.base_pooled)
        targets.append(result.flat)
        progress(index + 1, len(prompts), f"optimised {index + 1}/{len(prompts)} corpus prompts")
    return Examples(kept, torch.stack(embeddings), torch.stack(targets), time.perf_counter() - begin)


def distill_loss(assembly: LoraAssembly, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of |dW_pred - dW_target|^2 / |dW_target|^2 (all modules together)."""
    losses = []
    for row in range(predicted.shape[0]):
        pred, true = assembly.split(predicted[row]), assembly.split(target[row])
        distance, norm = predicted.new_zeros(()), predicted.new_zeros(())
        for path in pred:
            pa, pb = pred[path]
            ta, tb = true[path]
            target_norm = gram_inner(ta, tb, ta, tb)
            distance = distance + gram_inner(pa, pb, pa, pb) - 2 * gram_inner(pa, pb, ta, tb) + target_norm
            norm = norm + target_norm
        losses.append(distance / norm.clamp(min=1e-12))
    return torch.stack(losses).mean()


def train_proposer(spec: ProposerSpec, examples: Examples, config: TrainConfig,
                   progress: Progress = no_progress) -> tuple[Proposer, list[float]]:
    """Adam on the distillation loss; returns the proposer and the loss per epoch."""
    proposer = Proposer(spec, seed=config.seed)
    assembly = spec.assembly
    adam = torch.optim.AdamW(proposer.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    count = examples.embeddings.shape[0]
    history = []
    with torch.enable_grad():
        for epoch in range(config.epochs):
            order = torch.randperm(count, generator=generator)
            total = 0.0
            for start in range(0, count, config.batch_size):
                batch = order[start:start + config.batch_size]
                loss = distill_loss(assembly, proposer(examples.embeddings[batch]), examples.targets[batch])
                adam.zero_grad(set_to_none=True)
                loss.backward()
                adam.step()
                total += float(loss.detach()) * len(batch)
            history.append(total / count)
            progress(epoch + 1, config.epochs, f"proposer epoch {epoch + 1}: distillation loss {history[-1]:.4f}")
    return proposer.eval(), history
