"""Score a prompt against the whole library with array operations, and shortlist the entries worth exact work.

The exact relevance of :mod:`scoring` builds a Python object per candidate and walks its phrases; with
10,000 names a prompt's words touch thousands of entries, nearly all far below the threshold. Here the
same features (keyword hits by field and idf, phrase coverage, whole-phrase bonuses, semantic
similarity, family hint) are computed for every candidate at once over :class:`LibraryArrays`, and the
calibrated model is applied as one matrix product. Only the entries that can matter are then scored
exactly: those within :data:`MARGIN` of the threshold or of the best relevance (the abstain report names
the best), and those the user's picks taught something about. Everything else provably stays below the
threshold, so the picks are the same as scoring every candidate exactly (a test checks both agree).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from .embeddings import TOP_K, PromptMatch
from .entry import NAME, TRIGGER, WEAK
from .library_arrays import LibraryArrays
from .relevance import RelevanceModel
from .scoring import (COVERAGE_FLOOR, FIELD_WEIGHTS, FULL_COVERAGE, GENERIC_FACTOR, GENERIC_SEED_MAX_DF, PHRASE_BONUS,
                      UNKNOWN_FAMILY_FACTOR, Keyword, _named_in)

MARGIN = 1e-6  # array and exact relevance agree to ~1e-12; entries this close to a cut are scored exactly
_FIELD_WEIGHTS = np.array(FIELD_WEIGHTS)
_arrays: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def library_arrays(index) -> LibraryArrays:
    """The index's arrays, rebuilt only when the library changed since the last query."""
    arrays = _arrays.get(index)
    if arrays is None or arrays.generation != index.generation:
        arrays = _arrays[index] = LibraryArrays(index)
    return arrays


def allowed_mask(index, family: str, allow_unknown: bool, skip_names: set[str]) -> np.ndarray:
    """:func:`scoring.allowed_filter` as a mask over the library's positions."""
    arrays = library_arrays(index)
    skipped = [p for p, i in enumerate(arrays.ids) if _named_in(index.entries[int(i)], skip_names)] if skip_names else []
    return arrays.allowed(family, allow_unknown, np.array(skipped, dtype=np.int64))


@dataclass
class Shortlist:
    """Every candidate in order of its array relevance; :meth:`first` names the ones to score exactly."""

    ranked_ids: np.ndarray  # candidates, most relevant first
    ranked_relevance: np.ndarray
    always: set[int]  # scored exactly whatever their rank (trigger hits above the threshold, learned LoRAs)
    threshold: float
    semantic_top: list[int]  # the most similar allowed entries (they join the candidates)
    semantic_best: float
    hit_counts: dict[str, int] = field(default_factory=dict)  # candidates per prompt word

    def first(self, count: int) -> list[int]:
        """The ``count`` most relevant candidates (and any tied with the last), plus :attr:`always`.

        Ties at relevance 0 (generic-category candidates, see ``scoring``) are not followed: the prompt can
        never pick them, and in a large library they are thousands."""
        if not len(self.ranked_ids):
            return sorted(self.always)
        last = self.ranked_relevance[min(count, len(self.ranked_ids)) - 1]
        head = self.ranked_ids[:count] if last <= 0 else self.ranked_ids[self.ranked_relevance >= last - MARGIN]
        return sorted({int(i) for i in head} | self.always)

    def complete(self, count: int) -> bool:
        """True when :meth:`first` holds every candidate that can reach the threshold."""
        return count >= len(self.ranked_ids) or self.ranked_relevance[count - 1] < self.threshold


@dataclass
class _Hits:
    """Keyword hits as candidates x keywords matrices (field -1: no hit)."""

    positions: np.ndarray
    local: np.ndarray  # library position -> candidate row (-1: not a candidate)
    fields: np.ndarray
    contribution: np.ndarray
    partial: np.ndarray | None = None  # the hit's word covers only part of its phrase (set with coverage)


def shortlist(index, keywords: dict[str, Keyword], allowed: np.ndarray, family: str, model: RelevanceModel,
              threshold: float, match: PromptMatch | None = None, learned_keys: set[str] | None = None) -> Shortlist:
    """Every candidate ranked by array scoring (its relevance equals the exact one to ~1e-12)."""
    arrays = library_arrays(index)
    words = [k for k in keywords.values() if k.word in index.postings]  # a word in no entry changes nothing
    hits, top, best = _keyword_hits(arrays, words, allowed, match)
    relevance = _relevance(arrays, words, hits, family, model, match, best)
    order = np.argsort(-relevance, kind="stable")
    ids = arrays.ids[hits.positions]
    always = (relevance >= threshold - MARGIN) & (hits.fields == TRIGGER).any(axis=1)
    if learned_keys:
        always |= np.isin(hits.positions, arrays.positions_of_keys(learned_keys))
    counts = dict.fromkeys(keywords, 0) | {k.word: int(n) for k, n in zip(words, (hits.fields >= 0).sum(axis=0))}
    return Shortlist(ids[order], relevance[order], {int(i) for i in ids[always]}, threshold, top, best, counts)


def _keyword_hits(arrays: LibraryArrays, words: list[Keyword], allowed: np.ndarray, match: PromptMatch | None):
    """Hits as :func:`scoring._gather` makes them, plus the semantic candidates; (hits, top ids, best)."""
    seeded = np.zeros(arrays.size, dtype=bool)
    parts, late = [], []
    for k, keyword in enumerate(words):
        positions, fields = arrays.posting(keyword.word)
        if keyword.generic and len(positions) > GENERIC_SEED_MAX_DF:
            late.append(k)
            continue
        keep = allowed[positions] & ((fields <= NAME) if keyword.generic else True)
        parts.append((k, positions[keep], fields[keep]))
        seeded[positions[keep]] = True
    for k in late:
        positions, fields = arrays.posting(words[k].word)
        keep = seeded[positions]
        parts.append((k, positions[keep], fields[keep]))
    top, best = _semantic_top(arrays, allowed, match)
    candidates = seeded.copy()
    candidates[arrays.positions(top)] = True
    positions = np.flatnonzero(candidates)
    local = np.full(arrays.size, -1, dtype=np.int64)
    local[positions] = np.arange(len(positions))
    field_matrix = np.full((len(positions), len(words)), -1, dtype=np.int64)
    contribution = np.zeros((len(positions), len(words)))
    for k, part_positions, part_fields in parts:
        keyword = words[k]
        emphasis = min(1.5, max(0.8, keyword.emphasis))
        factor = GENERIC_FACTOR if keyword.generic else 1.0
        field_matrix[local[part_positions], k] = part_fields
        contribution[local[part_positions], k] = _FIELD_WEIGHTS[part_fields] * keyword.idf * factor * emphasis
    return _Hits(positions, local, field_matrix, contribution), top, best


def _semantic_top(arrays: LibraryArrays, allowed: np.ndarray, match: PromptMatch | None) -> tuple[list[int], float]:
    """As :meth:`PromptMatch.top`: the ``TOP_K`` most similar allowed entries (ties: lower id first) and the
    best similarity, without sorting the whole library."""
    if match is None:
        return [], 0.0
    positions, present, _ = arrays.align(match.ids)
    usable = np.flatnonzero(present & allowed[positions])
    if not len(usable):
        return [], 0.0
    values = match.best_per_entry[usable]
    count = min(TOP_K, len(usable))
    kth = np.partition(values, len(values) - count)[len(values) - count]
    above, tied = usable[values > kth], usable[values == kth]
    chosen = np.concatenate([above, tied[:count - len(above)]])
    chosen = chosen[np.lexsort((chosen, -match.best_per_entry[chosen]))]
    return [int(i) for i in match.ids[chosen]], float(match.best_per_entry[chosen[0]])


def _relevance(arrays: LibraryArrays, words: list[Keyword], hits: _Hits, family: str, model: RelevanceModel,
               match: PromptMatch | None, best: float) -> np.ndarray:
    """The calibrated probability of every candidate (0 for generic-metadata-only and generic-name-category-only
    ones), as ``Candidate``."""
    count = len(hits.positions)
    coverage_feature, bonus = _apply_phrases(arrays, words, hits)
    has_family = family != "unknown"
    factor = np.where(has_family & arrays.unknown_family[hits.positions], UNKNOWN_FAMILY_FACTOR, 1.0)
    score = (hits.contribution.sum(axis=1) + bonus) * factor
    generic = np.array([bool(k.generic) for k in words], dtype=bool)
    common = np.array([k.common for k in words], dtype=bool)
    category = np.array([k.category for k in words], dtype=bool)
    name_category = np.array([k.name_category for k in words], dtype=bool)
    hit = hits.fields >= 0
    partial = hits.partial
    specific = (hit & ~generic & (hits.fields <= WEAK) & ~(partial & common)).any(axis=1)
    metadata_only = hit.any(axis=1) & ~(hit & ~generic).any(axis=1) & (hit & (hits.fields != NAME) & category).any(axis=1)
    name_category_only = hit.any(axis=1) & ~(hit & ~name_category).any(axis=1)
    semantic, semantic_generic = _semantic_features(arrays, hits.positions, match)
    gap = semantic - best if match is not None else np.zeros(count)
    family_match = has_family & (arrays.family_code[hits.positions] == _family_code(arrays, family)) & \
        arrays.family_from_name[hits.positions]
    features = np.column_stack([np.log1p(score), coverage_feature, specific, semantic, gap, semantic_generic,
                                family_match]).astype(np.float64)
    z = np.clip(model.bias + features @ np.asarray(model.weights), -40.0, 40.0)
    return np.where(metadata_only | name_category_only, 0.0, 1.0 / (1.0 + np.exp(-z)))


def _family_code(arrays: LibraryArrays, family: str) -> int:
    return arrays.family_names.index(family) if family in arrays.family_names else -1


def _semantic_features(arrays: LibraryArrays, positions: np.ndarray, match: PromptMatch | None):
    """(similarity, similarity when the matched phrase is all generic words) per candidate."""
    semantic = np.zeros(len(positions))
    generic_phrase = np.zeros(len(positions))
    if match is None:
        return semantic, generic_phrase
    rows = arrays.align(match.ids)[2][positions]
    found = rows >= 0
    semantic[found] = match.best_per_entry[rows[found]]
    all_generic = np.array(match.generic_phrases, dtype=bool)[match.phrase_of_entry[rows[found]]]
    generic_phrase[found] = np.where(all_generic, semantic[found], 0.0)
    return semantic, generic_phrase


def _apply_phrases(arrays: LibraryArrays, words: list[Keyword], hits: _Hits) -> tuple[np.ndarray, np.ndarray]:
    """Scale hits by phrase coverage (as ``scoring._apply_coverage``); (name coverage feature, phrase bonus)."""
    count = len(hits.positions)
    pairs = [(arrays.phrases_with(k.word), i) for i, k in enumerate(words)]
    rows = np.concatenate([p for p, _ in pairs]) if pairs else np.zeros(0, dtype=np.int64)
    keyword_of = np.concatenate([np.full(len(p), i) for p, i in pairs]) if pairs else np.zeros(0, dtype=np.int64)
    owner = hits.local[arrays.phrase_entry[rows]]
    rows, keyword_of, owner = rows[owner >= 0], keyword_of[owner >= 0], owner[owner >= 0]
    present = np.zeros(len(arrays.phrase_entry), dtype=np.int64)
    present[rows] = 1
    unique = np.flatnonzero(present)
    slot = (np.cumsum(present) - 1)[rows]
    hit_here = hits.fields[owner, keyword_of] >= 0
    sums = _phrase_sums(arrays, words, rows, keyword_of, slot, hit_here, len(unique))
    total = arrays.phrase_listed_total[unique] + sums["discount"]
    ratio = sums["keyword_idf"] / np.where(total == 0, 1.0, total)
    best = np.zeros(hits.fields.shape)
    same_field = hits.fields[owner, keyword_of] == arrays.phrase_field[rows]
    np.maximum.at(best, (owner[same_field], keyword_of[same_field]), ratio[slot[same_field]])
    hits.contribution = np.where(best > 0, hits.contribution * (COVERAGE_FLOOR + (1.0 - COVERAGE_FLOOR) * best),
                                 hits.contribution)
    hits.partial = (best > 0) & (best < FULL_COVERAGE)
    owners = hits.local[arrays.phrase_entry[unique]]
    coverage = np.zeros(count)
    own = arrays.phrase_own[unique] & (sums["hit_raw_idf"] > 0)
    raw_total = arrays.phrase_raw_total[unique]
    np.maximum.at(coverage, owners[own], sums["hit_raw_idf"][own] / np.where(raw_total == 0, 1.0, raw_total)[own])
    length = arrays.phrase_length[unique]
    whole = (length > 1) & (sums["keywords"] == length) & (sums["generic"] < length)
    values = _FIELD_WEIGHTS[arrays.phrase_field[unique]] * PHRASE_BONUS * (sums["idf"] / np.maximum(length, 1))
    bonus = np.bincount(owners[whole], weights=values[whole], minlength=count)
    return coverage, bonus


def _phrase_sums(arrays: LibraryArrays, words: list[Keyword], rows, keyword_of, slot, hit_here, size) -> dict:
    """Per phrase: the discounted idf of its prompt words, their count, ... (a token counted per occurrence)."""
    idf = np.array([k.idf for k in words])
    generic = np.array([bool(k.generic) for k in words], dtype=float)
    discounted = idf * np.where(generic > 0, GENERIC_FACTOR, 1.0)
    tokens = np.array([arrays.vocabulary.get(k.word, 0) for k in words], dtype=np.int64)
    listed = arrays.listed_idf[tokens] if len(arrays.listed_idf) else np.zeros(len(words))
    raw = arrays.raw_idf[tokens] if len(arrays.raw_idf) else np.zeros(len(words))

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(slot, weights=weights[keyword_of], minlength=size)

    return {"keyword_idf": total(discounted), "discount": total(discounted - listed), "keywords": total(np.ones(len(words))),
            "generic": total(generic), "idf": total(idf),
            "hit_raw_idf": np.bincount(slot, weights=raw[keyword_of] * hit_here, minlength=size)}
