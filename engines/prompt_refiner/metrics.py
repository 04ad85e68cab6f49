"""Quality of refined prompts against references: structure rate, content-word recall, ROUGE-L.

- structure: the output parses into all six sections, each once and in order (``structure.parse_structured``);
- content recall: the share of the vague prompt's content words that the output still contains (a text-only
  stand-in for "did it keep the user's intent"; 1.0 when the prompt has no content words);
- ROUGE-L: F1 of the longest common word subsequence between output and reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .structure import content_words, missing_content_words, parse_structured, words


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-case words (LCS by dynamic programming, O(len(a) * len(b)))."""
    a, b = words(candidate), words(reference)
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    common = previous[-1]
    if common == 0:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)


def content_recall(source: str, output: str) -> float:
    wanted = content_words(source)
    return 1.0 if not wanted else 1 - len(missing_content_words(source, output)) / len(wanted)


@dataclass(frozen=True)
class QualityScores:
    count: int
    structure_rate: float
    content_recall: float
    rouge_l: float

    def to_dict(self) -> dict:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}


def score(sources: Sequence[str], outputs: Sequence[str], references: Sequence[str]) -> QualityScores:
    """Mean scores of ``outputs`` (model rewrites of ``sources``) against ``references``."""
    if not (len(sources) == len(outputs) == len(references)) or not sources:
        raise ValueError(f"need equally many sources, outputs and references (got {len(sources)}, {len(outputs)}, "
                         f"{len(references)}), at least one")
    count = len(sources)
    return QualityScores(
        count=count,
        structure_rate=sum(parse_structured(text) is not None for text in outputs) / count,
        content_recall=sum(content_recall(s, o) for s, o in zip(sources, outputs)) / count,
        rouge_l=sum(rouge_l(o, r) for o, r in zip(outputs, references)) / count,
    )
