"""Quality of discovery on the benchmark prompts: recall@3, MRR, abstaining, wrong-family picks.

A pick is correct when its LoRA is of one of the prompt's target concepts *and* of the prompt's family
(any version of that concept and family counts). Rankers are functions ``prompt -> [names]`` (best
first, at most 3), so the system (names+metadata, names only) and the filename-substring baseline of the
seed plan are measured the same way in the same run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .discovery_pool import EvalPrompt, PoolLora

Ranker = Callable[[EvalPrompt], list[str]]
_BASELINE_STOP = frozenset("a an the and or of in on at to for with by from is are".split())


@dataclass
class Scores:
    recall_at_3: float
    mrr: float
    precision: float
    abstain_rate: float
    generic_false_trigger_rate: float
    wrong_family_picks: int
    prompts: int

    def as_dict(self, prefix: str = "") -> dict:
        return {f"{prefix}{key}": round(value, 4) if isinstance(value, float) else value
                for key, value in self.__dict__.items()}


def _correct(lora: PoolLora | None, prompt: EvalPrompt) -> bool:
    return lora is not None and lora.concept in prompt.targets and lora.family == prompt.family


def evaluate(ranker: Ranker, prompts: list[EvalPrompt], by_name: dict[str, PoolLora]) -> Scores:
    recall = mrr = 0.0
    concept_prompts = none_prompts = generic_prompts = abstained = generic_hits = wrong_family = 0
    picks_total = picks_correct = 0
    for prompt in prompts:
        names = ranker(prompt)[:3]
        loras = [by_name.get(name) for name in names]
        wrong_family += sum(1 for lora in loras if lora is not None and lora.family != prompt.family)
        if prompt.kind == "concept":
            concept_prompts += 1
            found = {lora.concept for lora in loras if _correct(lora, prompt)}
            recall += len(found) / len(prompt.targets)
            first = next((rank for rank, lora in enumerate(loras, 1) if _correct(lora, prompt)), None)
            mrr += 1.0 / first if first else 0.0
            picks_total += len(loras)
            picks_correct += sum(1 for lora in loras if _correct(lora, prompt))
        elif prompt.kind == "none":
            none_prompts += 1
            abstained += 0 if names else 1
        else:
            generic_prompts += 1
            generic_hits += 1 if names else 0
    return Scores(recall / max(1, concept_prompts), mrr / max(1, concept_prompts),
                  picks_correct / max(1, picks_total), abstained / max(1, none_prompts),
                  generic_hits / max(1, generic_prompts), wrong_family, len(prompts))


def substring_baseline(names: list[str]) -> Ranker:
    """The seed plan's matcher: prompt words that are substrings of a file name, top 3 by count, no family check."""
    lowered = [(name, name.lower()) for name in names]

    def rank(prompt: EvalPrompt) -> list[str]:
        keywords = {w for w in re.findall(r"[a-z0-9]+", prompt.prompt.lower()) if len(w) >= 3 and w not in _BASELINE_STOP}
        scored = [(sum(1 for k in keywords if k in low), name) for name, low in lowered]
        scored = [item for item in scored if item[0] > 0]
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [name for _, name in scored[:3]]

    return rank


def split(prompts: list[EvalPrompt], which: str) -> list[EvalPrompt]:
    return [p for p in prompts if p.split == which]
