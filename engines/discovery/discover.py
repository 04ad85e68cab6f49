"""One discovery query over an index: parse, score, select, vary, explain. Pure and fast (milliseconds)."""

from __future__ import annotations

import time

from .feedback import Affinity, lora_key
from .options import DiscoverOptions, DiscoveryResult, Variant
from .prompt import parse_prompt
from .scoring import Keyword, analyse_keywords, allowed_filter, score_candidates
from .search_index import SearchIndex
from .selection import Selection, lora_text, make_pick, prompt_with_triggers, select
from .text import words
from .variations import combinations


def _keyword_report(keywords: dict[str, Keyword], candidates, selection: Selection) -> list[dict]:
    counts: dict[str, int] = {}
    for candidate in candidates:
        for word in candidate.hits:
            counts[word] = counts.get(word, 0) + 1
    owners = {word: choice.candidate.entry.name for choice in selection.choices for word in choice.concept}
    return [{"word": k.word, "emphasis": k.emphasis, "in_loras": k.df, "generic": k.generic,
             "candidates": counts.get(k.word, 0), "picked": owners.get(k.word, "")}
            for k in sorted(keywords.values(), key=lambda k: (-counts.get(k.word, 0), k.word))]


def _abstain_reason(index: SearchIndex, keywords: dict[str, Keyword], candidates, selection: Selection,
                    options: DiscoverOptions) -> str:
    if selection.choices:
        return ""
    if options.max_loras == 0:
        return "max_loras is 0"
    if not len(index):
        return "the LoRA library is empty (no files indexed yet)"
    if not keywords:
        return "the prompt has no words to match"
    if not candidates:
        generic = sorted(k.word for k in keywords.values() if k.generic and k.df)[:5]
        note = f"; generic words ({', '.join(generic)}) never pick a LoRA on their own" if generic else ""
        return f"no specific word of the prompt names a LoRA{_family_note(options)}{note}"
    best, relevance = max(selection.below_threshold, key=lambda item: item[1])
    return (f"the best candidate, {best.entry.name}, has relevance {relevance:.2f}, below the threshold "
            f"{options.threshold:.2f}; no LoRA is the safer answer")


def _family_note(options: DiscoverOptions) -> str:
    return f" for {options.family} models" if options.family != "unknown" else ""


def run_discovery(index: SearchIndex, prompt: str, options: DiscoverOptions, affinity: Affinity | None = None,
                  library: dict | None = None) -> DiscoveryResult:
    """Ranked, explained picks for ``prompt``; ``options.variations`` seeded combinations."""
    start = time.perf_counter()
    parsed = parse_prompt(prompt)
    skip = {lora_key(tag.name) for tag in parsed.lora_tags}
    with index.lock:
        keywords = analyse_keywords(parsed, index)
        allowed = allowed_filter(index, options.family, options.allow_unknown_family, skip)
        candidates = score_candidates(index, keywords, allowed, options.family)
    if affinity is not None and options.use_learning:
        for candidate in candidates:
            candidate.boost = affinity.boost(candidate.hits, candidate.entry.name)
    selection = select(candidates, keywords, options.max_loras, options.threshold)
    prompt_key = " " + " ".join(words(parsed.text)) + " "
    variants = []
    for combination in combinations(selection.choices, options.variations, options.seed):
        picks = [make_pick(c, relevance, concept, keywords, options, prompt_key) for c, relevance, concept in combination]
        variants.append(Variant(picks, prompt_with_triggers(prompt, picks), lora_text(picks)))
    for choice, pick in zip(selection.choices, variants[0].picks):
        pick.alternatives = [alternative.entry.name for alternative, _ in choice.alternatives]
    warnings = list(parsed.warnings)
    if parsed.lora_tags:
        warnings.append("already in the prompt, not added again: " + ", ".join(t.name for t in parsed.lora_tags))
    return DiscoveryResult(
        prompt=prompt if len(prompt) <= 2000 else prompt[:2000] + "...", family=options.family, variants=variants,
        keywords=_keyword_report(keywords, candidates, selection),
        abstained_reason=_abstain_reason(index, keywords, candidates, selection, options),
        warnings=warnings, library=library or {"entries": len(index)},
        elapsed_ms=round((time.perf_counter() - start) * 1000, 3))
