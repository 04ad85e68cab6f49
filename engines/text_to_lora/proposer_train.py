"""Training the proposer: meta-learned distillation of optimiser LoRAs over a prompt corpus (Reptile-style).

Each round takes a batch of corpus prompts, proposes a LoRA for each, runs the optimiser ``inner_steps`` Adam
steps from every proposal, and regresses the proposer onto the LoRAs the optimiser reached. Iterated, this moves
the proposals to where a few optimiser steps go furthest (Reptile, Nichol et al. 2018, with the hypernetwork
in place of a single shared initialisation), which is what the proposer is for: fewer steps to a good LoRA.

Why not a one-shot regression onto converged LoRAs (the first design): on all-MiniLM-L6-v2 the prompt-specific
part of a converged LoRA is not predictable from the prompt (held-out R^2 <= 0.03 from the pooled state or the
mean token embedding, 130 training prompts), so such a proposer learnt little more than the corpus mean and cut
the median steps to 90% of the NLL drop only 1.6-1.75x; trained this way (16 rounds of 4 steps, 80 prompts) it
cuts them 2.7x (8 -> 3; ``lora-lab bench t2l --parts quality,proposer``).

The regression target is the flat LoRA vector, not the delta ``B A``: every run in a round starts from the
proposal and the factors it picks, so the optimiser's A and B are in the same gauge as the proposal's, and the
balance between A and B (which sets how fast Adam moves the delta) is part of what is learnt.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace

import torch

from ..progress import Progress, no_progress
from .optimiser import DEFAULT_NEGATIVES, OptimiseConfig, optimise
from .proposer import Proposer, ProposerSpec
from .scorer import PromptScorer, ScoreWindow, negative_orders


@dataclass(frozen=True)
class TrainConfig:
    rounds: int = 16
    prompts_per_round: int = 40
    validation_prompts: int = 16  # held back from the rounds; the best round on them is kept
    inner_steps: int = 4
    meta_step: float = 0.5  # how far towards the optimiser's LoRA each round regresses (Reptile's epsilon)
    epochs: int = 40  # regression epochs per round
    learning_rate: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 1e-4
    seed: int = 0
    latent: int = 128
    head_in: int = 256

    def __post_init__(self) -> None:
        for name in ("rounds", "prompts_per_round", "validation_prompts", "inner_steps", "epochs", "batch_size",
                     "latent", "head_in"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"proposer training {name} must be a positive integer, got {value!r}")
        if self.latent % 4:
            raise ValueError(f"proposer latent must be divisible by 4, got {self.latent}")
        for name in ("learning_rate", "meta_step"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"proposer {name} must be in (0, 1], got {getattr(self, name)}")


@dataclass
class CorpusPrompt:
    """One training prompt: the proposer's input, the hot-loop scorer, and its unmodified NLL."""

    prompt: str
    embedding: torch.Tensor
    hot: PromptScorer
    base_nll: float


@dataclass
class TrainHistory:
    """Per round: the regression loss and the validation prompts' NLL after ``inner_steps`` from the proposals,
    as a fraction of their unmodified NLL (entry 0: the untrained proposer, i.e. the standard init)."""

    validation_nll: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    best_round: int = 0
    prompts: int = 0
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"rounds": len(self.loss), "prompts": self.prompts, "seconds": round(self.seconds, 1),
                "best_round": self.best_round,
                "validation_nll_relative": [round(v, 4) for v in self.validation_nll],
                "regression_loss": [round(v, 4) for v in self.loss]}


def corpus_prompts(prompts: list[str], encoder, hot_encoder, tokenizer, window: int,
                   calibration, score_window: ScoreWindow | None = None,
                   negatives: int = DEFAULT_NEGATIVES) -> list[CorpusPrompt]:
    """Tokenise and score each prompt once (prompts with no tokens are skipped); the hot scorer carries the same
    negative orders as a node run, so the proposer learns the run's objective."""
    out = []
    for prompt in prompts:
        ids = tokenizer.encode_text(prompt)[:window]
        if not ids:
            continue
        exact = PromptScorer(encoder, tokenizer.special, ids, calibration, score_window)
        hot = PromptScorer(hot_encoder, tokenizer.special, ids, calibration, score_window,
                           negative_orders(ids, 0, negatives))
        out.append(CorpusPrompt(prompt, exact.base_pooled, hot, hot.nll()))
    if not out:
        raise ValueError("proposer training needs at least one corpus prompt with tokens")
    return out


def relative_distance(predicted: torch.Tensor, target: torch.Tensor, standard: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of |pred - target|^2 / |target - standard init|^2 (1.0 = no better than B = 0)."""
    reach = (target - standard).pow(2).sum(-1).clamp(min=1e-12)
    return ((predicted - target).pow(2).sum(-1) / reach).mean()


def train_proposer(spec: ProposerSpec, prompts: list[CorpusPrompt], optimise_config: OptimiseConfig,
                   config: TrainConfig, progress: Progress = no_progress) -> tuple[Proposer, TrainHistory]:
    """Rounds of (propose, optimise ``inner_steps``, regress part of the way onto the results).

    Returns the proposer of the round whose proposals let ``inner_steps`` optimiser steps get furthest on the
    validation prompts (Reptile-style training drifts once the shared part of the proposals starts to fit the
    corpus rather than to speed up each prompt's own optimisation, so the rounds are early-stopped).
    """
    if len(prompts) <= config.validation_prompts:
        raise ValueError(f"proposer training needs more than {config.validation_prompts} corpus prompts "
                         f"(validation_prompts), got {len(prompts)}")
    begin = time.perf_counter()
    proposer = Proposer(spec, seed=config.seed)
    adam = torch.optim.AdamW(proposer.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    inner = replace(optimise_config, steps=config.inner_steps, tolerance=0.0, time_budget_s=0.0)
    validation, training = prompts[: config.validation_prompts], prompts[config.validation_prompts:]
    history = TrainHistory(prompts=len(prompts))
    counter = _RunCounter(progress, config.rounds * (min(config.prompts_per_round, len(training))
                                                        + len(validation)) + len(validation))
    history.validation_nll.append(_validate(proposer, validation, inner, counter))
    best = copy.deepcopy(proposer.state_dict())
    for round_index in range(config.rounds):
        batch = [training[i] for i in torch.randperm(len(training), generator=generator)[: config.prompts_per_round]]
        starts, results = _inner_runs(proposer, batch, inner, counter, f"round {round_index + 1}")
        targets = starts + config.meta_step * (torch.stack([r.flat for r in results]) - starts)
        embeddings = torch.stack([p.embedding for p in batch])
        history.loss.append(_regress(proposer, adam, embeddings, targets, config, generator))
        history.validation_nll.append(_validate(proposer, validation, inner, counter))
        if history.validation_nll[-1] < min(history.validation_nll[:-1]):
            best, history.best_round = copy.deepcopy(proposer.state_dict()), round_index + 1
        progress(counter.done, counter.total, f"proposer round {round_index + 1}/{config.rounds}: validation NLL "
                 f"after {config.inner_steps} steps {history.validation_nll[-1]:.3f} of the unmodified encoder's, "
                 f"regression loss {history.loss[-1]:.4f}")
    proposer.load_state_dict(best)
    history.seconds = time.perf_counter() - begin
    return proposer.eval(), history


class _RunCounter:
    """One progress count over every optimiser run of the training (rounds and validations)."""

    def __init__(self, progress: Progress, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def tick(self, what: str) -> None:
        self.done += 1
        self.progress(self.done, self.total, f"proposer {what}: optimised {self.done}/{self.total}")


def _inner_runs(proposer: Proposer, prompts: list[CorpusPrompt], inner: OptimiseConfig, counter: _RunCounter,
                what: str) -> tuple[torch.Tensor, list]:
    """The proposals for ``prompts`` and the optimiser's result from each."""
    starts = _proposals(proposer, torch.stack([p.embedding for p in prompts]))
    results = []
    for prompt, start in zip(prompts, starts):
        results.append(optimise(prompt.hot, proposer.spec.assembly, start, inner))
        counter.tick(what)
    return starts, results


def _validate(proposer: Proposer, validation: list[CorpusPrompt], inner: OptimiseConfig,
              counter: _RunCounter) -> float:
    """Mean NLL after ``inner`` steps from the proposals, as a fraction of each prompt's unmodified NLL."""
    _, results = _inner_runs(proposer, validation, inner, counter, "validation")
    return sum(r.final_nll / max(p.base_nll, 1e-12) for p, r in zip(validation, results)) / len(validation)


def _proposals(proposer: Proposer, embeddings: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return proposer(embeddings.float()).detach()


def _regress(proposer: Proposer, adam, embeddings: torch.Tensor, targets: torch.Tensor, config: TrainConfig,
             generator: torch.Generator) -> float:
    """``epochs`` passes of AdamW on the relative distance to this round's targets; the last epoch's mean loss."""
    proposer.train()
    count, last = embeddings.shape[0], 0.0
    standard = proposer.spec.assembly.initial(config.seed)
    with torch.enable_grad():
        for _ in range(config.epochs):
            total = 0.0
            for batch in torch.randperm(count, generator=generator).split(config.batch_size):
                loss = relative_distance(proposer(embeddings[batch]), targets[batch], standard)
                adam.zero_grad(set_to_none=True)
                loss.backward()
                adam.step()
                total += float(loss.detach()) * len(batch)
            last = total / count
    return last
