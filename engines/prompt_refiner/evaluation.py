"""Score a (merged) refiner on held-out pairs with the decoding the node uses; the harness for any T5 folder."""

from __future__ import annotations

from collections.abc import Sequence

from .data import Pair
from .generation import DecodeSettings, decode
from .metrics import QualityScores, score

EVAL_BATCH = 16


def refine_all(model, tokenizer, sources: Sequence[str], prefix: str, settings: DecodeSettings,
               device: str = "cpu") -> list[str]:
    """Rewrite every source, in batches of ``EVAL_BATCH`` (greedy unless ``settings.sample``)."""
    outputs: list[str] = []
    for start in range(0, len(sources), EVAL_BATCH):
        chunk = [prefix + source for source in sources[start:start + EVAL_BATCH]]
        outputs += decode(model, tokenizer, chunk, settings, device).texts
    return outputs


def evaluate(model, tokenizer, pairs: Sequence[Pair], prefix: str, settings: DecodeSettings = DecodeSettings(),
             device: str = "cpu") -> QualityScores:
    outputs = refine_all(model, tokenizer, [p.vague for p in pairs], prefix, settings, device)
    return score([p.vague for p in pairs], outputs, [p.structured for p in pairs])
