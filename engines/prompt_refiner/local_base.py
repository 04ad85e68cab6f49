"""Make a small local base model folder: a tokenizer trained on a corpus, a T5 of small shape, general pre-training.

This is the stand-in for a Flan-T5 download where there is no model hub (tests, the demo, the benchmark): it
is saved in the same folder layout, so everything downstream (training, the node, the route) runs the same
code on it as on a real Flan-T5 folder. ``lora_lab_base.json`` in the folder records how it was made.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..progress import Progress, no_progress
from .base_model import SHAPES, build_t5, save_base
from .data import DataConfig, PairSet, generate_pairs
from .local_tokenizer import train_tokenizer
from .pretrain import PretrainConfig, pretrain


@dataclass(frozen=True)
class LocalBaseConfig:
    """Shape, vocabulary and pre-training of a locally made base (``pretrain=None``: random weights only)."""

    shape: str = "local"
    vocab_size: int = 2000
    seed: int = 0
    pretrain: PretrainConfig | None = field(default_factory=PretrainConfig)
    extra_documents: int = 20000  # unlabeled documents made by the phrasebook for pre-training
    corpus_seed: int = 1000       # their seed: another one than the pairs' (--seed) so no pair is reused

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {sorted(SHAPES)}, got {self.shape!r}")
        if not 0 <= self.extra_documents <= 40000:
            raise ValueError(f"extra_documents must be between 0 and 40000, got {self.extra_documents}")


def corpus_from_pairs(pairs) -> list[str]:
    """Unlabeled documents from pairs: every vague prompt and every structured prompt on its own (no pairing)."""
    return [p.vague for p in pairs] + [p.structured for p in pairs]


def pretraining_corpus(pairs: PairSet, config: LocalBaseConfig) -> list[str]:
    """The training split's texts plus ``extra_documents`` more from the phrasebook (another seed), as separate
    documents, with every text of the held-out split removed.

    Why so many: a corpus of a few hundred documents is memorised instead of read, and the model then
    "rebuilds" a text by recalling the nearest one it knows, dropping the words it was given (measured: a
    held-out "logo for a dog groomer" came back as a memorised "landing page for a law firm", held-out content
    recall 0.35); thousands of varied documents can only be rebuilt by copying what is there.
    """
    documents = corpus_from_pairs(pairs.train)
    if config.extra_documents >= 2:
        extra = generate_pairs(DataConfig(n=config.extra_documents // 2, seed=config.corpus_seed, held_out=1))
        documents += corpus_from_pairs(extra.train + extra.held_out)
    held_out = {_normal(text) for text in corpus_from_pairs(pairs.held_out)}
    return [text for text in documents if _normal(text) not in held_out]


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def create_local_base(texts: Sequence[str], out_dir: str | Path, config: LocalBaseConfig = LocalBaseConfig(),
                      progress: Progress = no_progress) -> Path:
    """Train the tokenizer, build the T5, pre-train it (if configured), save the folder; returns its path."""
    if not texts:
        raise ValueError("the corpus for the local base is empty")
    started = time.perf_counter()
    tokenizer = train_tokenizer(texts, config.vocab_size)
    vocab = SHAPES[config.shape].get("vocab_size", len(tokenizer))
    model = build_t5(config.shape, max(vocab, len(tokenizer)), config.seed)
    losses = pretrain(model, tokenizer, texts, config.pretrain, progress) if config.pretrain else []
    info = {
        "format": "lora_lab.refiner_base", "version": 1, "shape": config.shape, "dims": SHAPES[config.shape],
        "tokenizer_vocab": len(tokenizer), "seed": config.seed,
        "corpus": {"documents": len(texts), "sha256": hashlib.sha256(json.dumps(list(texts)).encode()).hexdigest()},
        "pretrain": asdict(config.pretrain) if config.pretrain else None,
        "pretrain_loss_first_last": [round(sum(losses[:20]) / max(1, len(losses[:20])), 4),
                                     round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4)] if losses else None,
        "parameters": sum(p.numel() for p in model.parameters()), "seconds": round(time.perf_counter() - started, 2),
    }
    return save_base(model, tokenizer, out_dir, info)
