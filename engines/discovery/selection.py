"""From scored candidates to picks: threshold, one LoRA per concept, top-k, strengths, trigger words.

Picking is greedy over candidates ranked by relevance (the calibrated probability, combined with what
was learned from the user's picks, see ``feedback``): a candidate is picked when its relevance clears the
threshold *on words no earlier pick claimed*; one whose claimed words are all taken becomes an
alternative of the pick that took them (used for batch variations and shown in the report: "also
matched X").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .options import DiscoverOptions, Pick
from .entry import TRIGGER
from .scoring import Candidate, Keyword, explain
from .strength import strength_for
from .text import phrase_key


@dataclass
class Choice:
    candidate: Candidate
    relevance: float
    concept: list[str]
    alternatives: list[tuple[Candidate, float]] = field(default_factory=list)


@dataclass
class Selection:
    choices: list[Choice]
    below_threshold: list[tuple[Candidate, float]]


def rank(candidates: list[Candidate]) -> list[tuple[Candidate, float]]:
    """(candidate, relevance) pairs, most relevant first."""
    scored = [(candidate, combined(candidate)) for candidate in candidates]
    return sorted(scored, key=lambda item: (-item[1], -len(item[0].entry.triggers), item[0].entry.name))


def combined(candidate: Candidate, exclude: frozenset[str] | set[str] = frozenset()) -> float:
    """The prompt's relevance and the learned probability (``learned``, 0 when nothing was learned) as a
    noisy-or: the user wants the LoRA because the prompt asks for it or because they habitually pick it
    (a LoRA the user passed over for these words has the prompt's part scaled down first)."""
    prompt_part = candidate.relevance(exclude) * candidate.factor_learned
    return 1.0 - (1.0 - prompt_part) * (1.0 - candidate.learned)


def select(candidates: list[Candidate], keywords: dict[str, Keyword], max_loras: int, threshold: float) -> Selection:
    choices: list[Choice] = []
    covered: set[str] = set()
    below: list[tuple[Candidate, float]] = []
    for candidate, relevance in rank(candidates):
        if relevance < threshold:
            below.append((candidate, relevance))
            continue
        claims = candidate.claims(keywords) or {f"#{candidate.entry_id}"}  # learned only: its own concept
        if claims <= covered and _shares_a_trigger(candidate, claims):
            owner = max(choices, key=lambda c: len(claims & set(c.concept)))
            owner.alternatives.append((candidate, relevance))
            continue
        new_relevance = combined(candidate, exclude=covered)
        if new_relevance < threshold or len(choices) >= max_loras:
            below.append((candidate, new_relevance))
            continue
        choices.append(Choice(candidate, new_relevance, sorted(claims - covered) or sorted(claims)))
        covered |= {word for word in claims if _trigger_word(candidate, word)}
    return Selection(choices, below)


def _trigger_word(candidate: Candidate, word: str) -> bool:
    hit = candidate.hits.get(word)
    return hit is not None and hit.field == TRIGGER


def _shares_a_trigger(candidate: Candidate, claims: set[str]) -> bool:
    """Two LoRAs sharing a trigger word never both apply; LoRAs whose names share words may."""
    return any(_trigger_word(candidate, word) for word in claims)


def make_pick(candidate: Candidate, relevance: float, concept: list[str], keywords: dict[str, Keyword],
              options: DiscoverOptions, prompt_key: str) -> Pick:
    """``prompt_key``: the prompt's words, space-separated and space-padded (" a b c ")."""
    entry = candidate.entry
    strength, note = strength_for(relevance, options.threshold, options.min_strength, options.max_strength,
                                  entry.strength)
    trigger = ""
    if options.add_trigger_words:
        trigger = next((t for t in entry.triggers if phrase_key(t) and f" {phrase_key(t)} " not in prompt_key), "")
    return Pick(name=entry.name, display_name=entry.display_name, strength=strength, clip_strength=strength,
                relevance=round(relevance, 4), score=round(candidate.score(), 4), family=entry.family,
                concept=concept, reasons=explain(candidate, keywords), trigger_added=trigger, note=note)


def prompt_with_triggers(prompt: str, picks: list[Pick]) -> str:
    added = [p.trigger_added for p in picks if p.trigger_added]
    if not added:
        return prompt
    return (prompt.rstrip().rstrip(",") + ", " if prompt.strip() else "") + ", ".join(added)


def lora_text(picks: list[Pick]) -> str:
    """A1111 / Impact-Pack / Lora-Manager syntax: the name without its extension."""
    return " ".join(f"<lora:{p.name.rsplit('.', 1)[0]}:{p.strength:g}>" for p in picks)
