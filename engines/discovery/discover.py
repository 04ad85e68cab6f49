"""One discovery query over an index: parse, score, select, vary, explain. Pure and fast (milliseconds)."""

from __future__ import annotations

import time

from .feedback import Affinity, lora_key
from .options import DiscoverOptions, DiscoveryResult, Variant
from .embeddings import SemanticIndex
from .prompt import ParsedPrompt, parse_prompt
from .relevance import RelevanceModel, shipped_model
from .scoring import Keyword, analyse_keywords, allowed_filter, score_candidates
from .search_index import SearchIndex
from .shortlist import allowed_mask, shortlist
from .selection import Selection, lora_text, make_pick, prompt_with_triggers, select
from .text import is_generic, words
from .variations import combinations

MAX_PHRASES = 8
MAX_GENERIC_PHRASES = 4
MAX_PHRASE_WORDS = 12
WINDOW = 3
FIRST_EXACT = 8  # candidates scored exactly at first, beyond max_loras (see _selected)


def _keyword_report(keywords: dict[str, Keyword], counts: dict[str, int], selection: Selection) -> list[dict]:
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
    if not candidates or not selection.below_threshold:
        return f"no word or phrase of the prompt matches a LoRA{_family_note(options)}"
    best, relevance = max(selection.below_threshold, key=lambda item: item[1])
    return (f"the best candidate, {best.entry.name}, has relevance {relevance:.2f} (the estimated probability "
            f"that you want it), below the threshold {options.threshold:.2f}; no LoRA is the safer answer")


def _family_note(options: DiscoverOptions) -> str:
    return f" for {options.family} models" if options.family != "unknown" else ""


def prompt_phrases(parsed: ParsedPrompt) -> list[tuple[str, ...]]:
    """The prompt's comma-separated phrases as word tuples for semantic matching: distinct, at most
    ``MAX_PHRASES`` with a specific word, then up to ``MAX_GENERIC_PHRASES`` made of generic words only
    ("ultra detailed" still means something to a detail LoRA; the model weighs it as generic). A long
    phrase (a sentence) also gives its windows of ``WINDOW`` words, so "magical forest" inside a sentence
    is matched on its own."""
    chunks = [tuple(word for word, _ in chunk)[:MAX_PHRASE_WORDS] for chunk in parsed.chunks]
    phrases = list(dict.fromkeys(part for chunk in chunks for part in _with_windows(chunk)))
    generic = [p for p in phrases if all(is_generic(word) for word in p)]
    specific = [p for p in phrases if p not in generic]
    return specific[:MAX_PHRASES] + generic[:MAX_GENERIC_PHRASES]


def _with_windows(chunk: tuple[str, ...]) -> list[tuple[str, ...]]:
    if len(chunk) <= WINDOW + 1:
        return [chunk]
    return [chunk] + [chunk[i:i + WINDOW] for i in range(0, len(chunk) - WINDOW + 1, WINDOW - 1)]


def _relevance_model(semantic: SemanticIndex | None, model: RelevanceModel | None) -> RelevanceModel:
    return model if model is not None else shipped_model(semantic is not None)


def _prepared(index: SearchIndex, prompt: str, semantic: SemanticIndex | None):
    """(parsed prompt, names of LoRAs already in it, semantic match or None)."""
    parsed = parse_prompt(prompt)
    skip = {lora_key(tag.name) for tag in parsed.lora_tags}
    match = None
    if semantic is not None:
        semantic.sync(index)
        match = semantic.match(prompt_phrases(parsed))
    return parsed, skip, match


def _exact(index: SearchIndex, keywords, allowed, options: DiscoverOptions, model: RelevanceModel, match,
           affinity: Affinity | None, only: list[int] | None = None, semantic_top=None) -> list:
    candidates = score_candidates(index, keywords, allowed, options.family, model, match, only, semantic_top)
    if affinity is not None and options.use_learning:
        candidates = affinity.apply(index, candidates, keywords, allowed, model)
    return candidates


def discovery_candidates(index: SearchIndex, prompt: str, options: DiscoverOptions, semantic: SemanticIndex | None,
                         model: RelevanceModel, affinity: Affinity | None = None):
    """(parsed prompt, keywords, every candidate with features and learned probabilities), before selection."""
    parsed, skip, match = _prepared(index, prompt, semantic)
    with index.lock:
        keywords = analyse_keywords(parsed, index)
        allowed = allowed_filter(index, options.family, options.allow_unknown_family, skip)
        return parsed, keywords, _exact(index, keywords, allowed, options, model, match, affinity)


def _selected(index: SearchIndex, parsed, skip: set[str], match, options: DiscoverOptions, model: RelevanceModel,
              affinity: Affinity | None):
    """(keywords, candidates scored exactly, selection, candidates per prompt word).

    The whole library is ranked by array scoring (:mod:`shortlist`); only its head is scored exactly and
    selected, and the head grows until the selection is full or holds every candidate above the
    threshold, so the picks are those of scoring every candidate exactly."""
    learning = affinity is not None and options.use_learning
    with index.lock:
        keywords = analyse_keywords(parsed, index)
        allowed = allowed_filter(index, options.family, options.allow_unknown_family, skip)
        short = shortlist(index, keywords, allowed_mask(index, options.family, options.allow_unknown_family, skip),
                          options.family, model, options.threshold, match, affinity.lora_keys() if learning else None)
        count = FIRST_EXACT + options.max_loras
        while True:
            candidates = _exact(index, keywords, allowed, options, model, match, affinity, short.first(count),
                                (short.semantic_top, short.semantic_best))
            selection = select(candidates, keywords, options.max_loras, options.threshold)
            if len(selection.choices) >= options.max_loras or short.complete(count):
                return keywords, candidates, selection, short.hit_counts
            count *= 4


def run_discovery(index: SearchIndex, prompt: str, options: DiscoverOptions, affinity: Affinity | None = None,
                  library: dict | None = None, semantic: SemanticIndex | None = None,
                  model: RelevanceModel | None = None) -> DiscoveryResult:
    """Ranked, explained picks for ``prompt``; ``options.variations`` seeded combinations.

    ``semantic``: entry embeddings (None: lexical only); ``model``: the calibrated relevance (default: the
    shipped weights for the lexical-only or the semantic case)."""
    start = time.perf_counter()
    parsed, skip, match = _prepared(index, prompt, semantic)
    keywords, candidates, selection, counts = _selected(index, parsed, skip, match, options,
                                                        _relevance_model(semantic, model), affinity)
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
        keywords=_keyword_report(keywords, counts, selection),
        abstained_reason=_abstain_reason(index, keywords, candidates, selection, options),
        warnings=warnings, library=library or {"entries": len(index)},
        elapsed_ms=round((time.perf_counter() - start) * 1000, 3))
