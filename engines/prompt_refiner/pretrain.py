"""General pre-training for a locally built base: denoising (text infilling) on unlabeled text.

Real Flan-T5 arrives knowing English; a T5 built here from random weights knows nothing. Before it is frozen
and adapted, it learns the language of a corpus the BART way: spans of each text (10-90% of its tokens) are
either replaced by one sentinel each (text infilling) or dropped without a trace (token deletion), and the
model rebuilds the whole text. The corpus is plain documents, each vague or structured prompt on its own
(``local_base.pretraining_corpus``): no pair is ever shown, so mapping a vague prompt, with its filler words
and an instruction prefix, to a structured prompt is left to the adapter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..progress import Progress, no_progress
from .batches import Example, collate, encode


@dataclass(frozen=True)
class PretrainConfig:
    """Steps and optimiser of the denoising pre-training (AdamW, linear warm-up then cosine decay)."""

    steps: int = 1500
    batch_size: int = 16
    learning_rate: float = 3e-3
    min_mask_ratio: float = 0.1
    max_mask_ratio: float = 0.9
    mean_span: float = 3.0
    deletion_share: float = 0.5  # share of examples corrupted by deletion (the rest by infilling)
    max_tokens: int = 192
    warmup_steps: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be at least 1, got {self.steps} and {self.batch_size}")
        if not 0 <= self.min_mask_ratio <= self.max_mask_ratio < 1:
            raise ValueError(f"mask ratios must satisfy 0 <= min <= max < 1, got {self.min_mask_ratio}, "
                             f"{self.max_mask_ratio}")
        if not 0 <= self.deletion_share <= 1:
            raise ValueError(f"deletion_share must be in [0, 1], got {self.deletion_share}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")


def corrupt(ids: Sequence[int], ratio: float, mean_span: float, sentinel: int | None, rng: random.Random) -> list[int]:
    """``ids`` (ending in </s>) with about ``ratio`` of its tokens removed in spans, each span replaced by one
    ``sentinel`` (infilling) or by nothing (``sentinel=None``: deletion)."""
    body, eos = list(ids[:-1]), ids[-1]
    budget = round(ratio * len(body))
    masked = [False] * len(body)
    while budget > 0 and not all(masked):
        span = min(budget, max(1, _poisson(mean_span, rng)))
        start = rng.randrange(len(body))
        for index in range(start, min(start + span, len(body))):
            if not masked[index]:
                masked[index], budget = True, budget - 1
    out = []
    for token, is_masked in zip(body, masked):
        if not is_masked:
            out.append(token)
        elif sentinel is not None and (not out or out[-1] != sentinel):
            out.append(sentinel)
    return out + [eos]


def _poisson(mean: float, rng: random.Random) -> int:
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def denoising_batch(documents: Sequence[list[int]], config: PretrainConfig, sentinel: int,
                    rng: random.Random) -> list[Example]:
    """``batch_size`` (corrupted, original) examples from random documents, each infilled or deleted."""
    examples = []
    for _ in range(config.batch_size):
        doc = documents[rng.randrange(len(documents))]
        mark = None if rng.random() < config.deletion_share else sentinel
        ratio = rng.uniform(config.min_mask_ratio, config.max_mask_ratio)
        examples.append((corrupt(doc, ratio, config.mean_span, mark, rng), list(doc)))
    return examples


def pretrain(model, tokenizer, texts: Sequence[str], config: PretrainConfig,
             progress: Progress = no_progress) -> list[float]:
    """Train every weight of ``model`` on denoising ``texts``; returns the loss of each step."""
    import torch

    documents = [doc for doc in encode(tokenizer, texts, config.max_tokens) if len(doc) > 1]
    if not documents:
        raise ValueError("the pre-training corpus is empty")
    sentinel = tokenizer.convert_tokens_to_ids("<extra_id_0>")
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, config))
    model.train()
    losses = []
    for step in range(config.steps):
        batch = collate(denoising_batch(documents, config, sentinel, rng), tokenizer.pad_token_id)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        progress(step + 1, config.steps, f"pre-training step {step + 1}/{config.steps} loss {losses[-1]:.3f}")
    model.eval()
    return losses


def _lr_factor(step: int, config: PretrainConfig) -> float:
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
