"""Decoding: greedy (the same bytes every time) or sampled from a seed, with a time limit.

Sampling draws from the refiner's own ``torch.Generator`` inside a logits processor that leaves only the drawn
token standing, and ``generate`` then takes that token greedily. So a seed gives the same text on every call,
different seeds give different texts, and nothing touches torch's global random state (which the sampler
in the same ComfyUI process relies on).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..progress import Progress, no_progress
from .errors import GenerationTimeout

MAX_NEW_TOKENS_LIMIT = 1024


@dataclass(frozen=True)
class DecodeSettings:
    """How to decode. ``sample=False`` is greedy; the sampling knobs follow SuperPrompt's fix (top-p .95, top-k 50, T .7)."""

    max_new_tokens: int = 256
    sample: bool = False
    seed: int = 0
    temperature: float = 0.7
    top_k: int = 50
    top_p: float = 0.95

    def __post_init__(self) -> None:
        if isinstance(self.max_new_tokens, bool) or not 1 <= int(self.max_new_tokens) <= MAX_NEW_TOKENS_LIMIT:
            raise ValueError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS_LIMIT}, got {self.max_new_tokens!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be an integer between 0 and 2**64 - 1, got {self.seed!r}")
        if not 0 < self.temperature <= 10 or self.top_k < 1 or not 0 < self.top_p <= 1:
            raise ValueError(f"need 0 < temperature <= 10, top_k >= 1 and 0 < top_p <= 1 "
                             f"(got {self.temperature}, {self.top_k}, {self.top_p})")


def _seeded_sampler(settings: DecodeSettings, device: str):
    import torch
    from transformers import LogitsProcessor

    class SeededSampler(LogitsProcessor):
        def __init__(self) -> None:
            self.generator = torch.Generator(device=device).manual_seed(settings.seed)

        def __call__(self, input_ids, scores):
            scores = scores.float() / settings.temperature
            kth = torch.topk(scores, min(settings.top_k, scores.shape[-1]), dim=-1).values[..., -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
            ordered, order = torch.sort(scores, descending=True, dim=-1)
            cumulative = torch.softmax(ordered, dim=-1).cumsum(dim=-1)
            drop = cumulative - torch.softmax(ordered, dim=-1) > settings.top_p  # always keeps the best token
            scores = scores.scatter(-1, order, ordered.masked_fill(drop, float("-inf")))
            token = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=self.generator)
            return torch.full_like(scores, float("-inf")).scatter(-1, token, 0.0)

    return SeededSampler()


def _step_criterion(deadline: float | None, cancel: threading.Event | None, progress: Progress, total: int):
    """Called once per generated token: reports progress (which may raise to interrupt) and enforces the deadline."""
    import torch
    from transformers import StoppingCriteria

    class EveryStep(StoppingCriteria):
        hit, steps = False, 0

        def __call__(self, input_ids, scores, **kwargs):
            self.steps += 1
            progress(min(self.steps, total), total, "")
            late = (deadline is not None and time.monotonic() > deadline) or (cancel is not None and cancel.is_set())
            self.hit = self.hit or late
            return torch.full((input_ids.shape[0],), late, dtype=torch.bool, device=input_ids.device)

    return EveryStep()


@dataclass(frozen=True)
class Decoded:
    texts: list[str]
    new_tokens: list[int]


def decode(model, tokenizer, sources: Sequence[str], settings: DecodeSettings, device: str = "cpu",
           deadline: float | None = None, cancel: threading.Event | None = None,
           progress: Progress = no_progress) -> Decoded:
    """Generate a rewrite of each source (one batch). Raises GenerationTimeout past ``deadline`` (monotonic s)."""
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList

    encoded = tokenizer(list(sources), return_tensors="pt", padding=True, return_token_type_ids=False).to(device)
    stop = _step_criterion(deadline, cancel, progress, int(settings.max_new_tokens))
    processors = LogitsProcessorList([_seeded_sampler(settings, device)] if settings.sample else [])
    with torch.inference_mode():
        output = model.generate(**encoded, max_new_tokens=int(settings.max_new_tokens), do_sample=False, num_beams=1,
                                suppress_tokens=[tokenizer.pad_token_id], logits_processor=processors,
                                stopping_criteria=StoppingCriteriaList([stop]))
    if stop.hit:
        raise GenerationTimeout("generation was stopped: it ran past its time limit or was cancelled")
    return Decoded(tokenizer.batch_decode(output, skip_special_tokens=True),
                   [_generated_length(row[1:].tolist(), tokenizer.eos_token_id) for row in output])


def _generated_length(tokens: list[int], eos: int) -> int:
    """Tokens the model generated for one row: up to and including its end-of-sequence (the rest is padding)."""
    return tokens.index(eos) + 1 if eos in tokens else len(tokens)
