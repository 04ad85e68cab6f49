"""Token-id examples and padded seq2seq batches, shared by pre-training, adapter training and the benchmark."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

Example = tuple[list[int], list[int]]  # (source ids, target ids), both ending in </s>
IGNORE_INDEX = -100


def encode(tokenizer, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
    """Token ids of each text, cut to ``max_tokens`` (the last id is kept as end-of-sequence)."""
    ids = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    eos = tokenizer.eos_token_id
    return [row if len(row) <= max_tokens else row[:max_tokens - 1] + [eos] for row in ids]


def encode_pairs(tokenizer, sources: Sequence[str], targets: Sequence[str], max_source: int,
                 max_target: int) -> list[Example]:
    return list(zip(encode(tokenizer, sources, max_source), encode(tokenizer, targets, max_target)))


def collate(examples: Sequence[Example], pad_id: int = 0) -> dict:
    """Right-padded ``input_ids``/``attention_mask`` and ``labels`` with padding set to -100 (ignored by the loss)."""
    import torch

    source_len = max(len(source) for source, _ in examples)
    target_len = max(len(target) for _, target in examples)
    input_ids = torch.full((len(examples), source_len), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), target_len), IGNORE_INDEX, dtype=torch.long)
    for row, (source, target) in enumerate(examples):
        input_ids[row, :len(source)] = torch.tensor(source)
        labels[row, :len(target)] = torch.tensor(target)
    return {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long(), "labels": labels}


def shuffled_batches(examples: Sequence[Example], batch_size: int, rng: random.Random) -> Iterator[list[Example]]:
    """One epoch of batches in a seeded random order (the last batch may be smaller)."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    for start in range(0, len(order), batch_size):
        yield [examples[index] for index in order[start:start + batch_size]]


def batch_count(examples: int, batch_size: int) -> int:
    return -(-examples // batch_size)
