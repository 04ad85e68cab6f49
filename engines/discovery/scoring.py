"""Per-keyword scoring of library entries for a prompt, and the features of calibrated relevance.

- Family filter first: an entry for another base family is never scored when the model's family is known.
- Each prompt word scores the entries it occurs in by field (trigger > name > tag > weak trigger >
  description) times its rarity (idf); a multi-word trigger, name or tag that the prompt contains whole
  adds a phrase bonus. A generic word (a listed one, or one in more than 5% of a large library) scores a
  quarter: it can still make an entry a candidate when it is (most of) the entry's own name ("anime" ->
  ``anime_style_v2``), and the calibrated model weighs how much that is worth. A generic word that many
  LoRAs are called by ("style" in three names of eight) is a category of names: alone it picks none of them.
- Semantic candidates: the entries most similar in meaning to a prompt phrase (when a sentence model is
  installed) join the lexical ones.
- Relevance = the calibrated probability of :mod:`relevance` over the candidate's features; below the
  threshold the entry is not picked, and "no LoRA" is a valid answer (Stylus: retrieval without
  grounding is worse than no LoRA).
- One LoRA per concept: picks are made greedily; an entry whose claimed words were all claimed by an
  earlier pick becomes that pick's alternative (two LoRAs sharing a trigger never both apply).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .entry import FIELD_NAMES, NAME, TAG, TRIGGER, WEAK, LibraryEntry
from .families import compatible
from .prompt import ParsedPrompt
from .embeddings import PromptMatch
from .relevance import RelevanceModel
from .search_index import SearchIndex
from .commonness import is_common
from .text import is_generic, name_words, words

FIELD_WEIGHTS = (3.0, 2.0, 1.2, 0.8, 0.4)  # trigger, name, tag, weak trigger, description/examples
CLAIMING_FIELDS = (TRIGGER, NAME, TAG)
OWN_FIELDS = (TRIGGER, NAME)  # what a LoRA is called: a generic word there is its own word, not a category tag
GENERIC_FACTOR = 0.25
GENERIC_DF_RATIO = 0.05
GENERIC_DF_MIN_LIBRARY = 200
PHRASE_BONUS = 0.75
COVERAGE_FLOOR = 0.4
UNKNOWN_FAMILY_FACTOR = 0.7
FULL_COVERAGE = 0.999
GENERIC_SEED_MAX_DF = 1000  # a generic word seeds candidates only from postings up to this size
CATEGORY_MIN_LORAS = 2  # a generic word in the metadata of this many LoRAs is a category they share
NAME_CATEGORY_MIN_LORAS = 3  # ... in the names of this many, and over GENERIC_DF_RATIO, of the library's LoRAs


@dataclass(frozen=True)
class Keyword:
    word: str
    emphasis: float
    df: int
    idf: float  # normalised to (0, 1]
    generic: str  # "" when specific, else why it is generic
    common: bool = False  # a common English word (see commonness): partial phrase matches are no evidence
    category: bool = False  # generic and in the trigger, tag or description of several LoRAs (see relevance)
    name_category: bool = False  # generic and in the names (or triggers) of many LoRAs (generic_name_category_only)


@dataclass
class Hit:
    word: str
    field: int
    contribution: float
    partial: bool = False  # the word matched only part of its phrase (set by the coverage step)


@dataclass
class Candidate:
    entry_id: int
    entry: LibraryEntry
    hits: dict[str, Hit] = field(default_factory=dict)
    phrases: list[tuple[tuple[str, ...], int, float]] = field(default_factory=list)  # (words, field, bonus)
    learned: float = 0.0  # probability learned from the user's picks (see feedback and selection)
    factor_learned: float = 1.0  # < 1 when the user passed this LoRA over for the prompt's words
    factor: float = 1.0  # < 1 for an entry whose family is unknown while the model's is known
    semantic: float = 0.0  # best cosine similarity of a prompt phrase to the entry (0 without a model)
    semantic_gap: float = 0.0  # semantic minus the best similarity of any allowed entry (<= 0)
    semantic_words: tuple[str, ...] = ()  # the words of the prompt phrase it matched best
    family_match: float = 0.0
    model: RelevanceModel | None = None
    keywords: dict[str, Keyword] = field(default_factory=dict)
    raw_idf: Callable[[str], float] | None = None

    def score(self, exclude: frozenset[str] | set[str] = frozenset()) -> float:
        total = sum(hit.contribution for word, hit in self.hits.items() if word not in exclude)
        for tokens, _, bonus in self.phrases:
            if not set(tokens) <= set(exclude):
                total += bonus
        return total * self.factor

    def coverage(self, kept: set[str]) -> float:
        """Best idf-weighted share of a name or trigger phrase that the ``kept`` prompt words cover."""
        best = 0.0
        idf = self.raw_idf or (lambda word: 1.0)
        for field_code, tokens in self.entry.phrases:
            if field_code in OWN_FIELDS and kept.intersection(tokens):
                total = sum(idf(t) for t in tokens) or 1.0
                best = max(best, sum(idf(t) for t in tokens if t in kept) / total)
        return best

    def features(self, exclude: frozenset[str] | set[str] = frozenset()) -> list[float]:
        """The calibrated model's inputs (see :data:`relevance.FEATURES`) on words not in ``exclude``."""
        kept = set(self.hits) - set(exclude)
        specific = 1.0 if self.specific_words(self.keywords) & kept else 0.0
        generic_phrase = self.semantic if self.semantic_words and all(map(is_generic, self.semantic_words)) else 0.0
        return [math.log1p(self.score(exclude)), self.coverage(kept), specific, self.semantic, self.semantic_gap,
                generic_phrase, self.family_match]

    def relevance(self, exclude: frozenset[str] | set[str] = frozenset()) -> float:
        """Probability that the user wants this LoRA for the prompt (words in ``exclude`` left out).

        0 when its only evidence is generic words and one is a category of the library's metadata, or each
        is a category of the library's names (:meth:`generic_metadata_only`, :meth:`generic_name_category_only`)."""
        if self.model is None:
            raise ValueError("a candidate needs a relevance model before it is ranked")
        if self.generic_metadata_only(exclude) or self.generic_name_category_only(exclude):
            return 0.0
        return self.model.probability(self.features(exclude))

    def generic_metadata_only(self, exclude: frozenset[str] | set[str] = frozenset()) -> bool:
        """True when every matched word is generic and one of them, matched in this LoRA's trigger, tag
        or description, is in the metadata of several LoRAs of the library (``Keyword.category``).

        The model is calibrated on names alone, where a generic word ("anime" in ``anime_style_v2``)
        is the LoRA's own name. A generic trigger or tag that several files carry ("cinematic lighting",
        "portrait", "masterpiece") is a category they were trained in, which prompts without any wish
        for a LoRA share; scoring it like a name (a trigger weighs more than a name) puts those prompts
        out of the calibration's range, so such evidence alone never picks (learned habits still can,
        see ``selection.combined``). A generic trigger only one LoRA carries still names that LoRA."""
        kept = [(word, hit) for word, hit in self.hits.items() if word not in exclude]
        return bool(kept) and all(self.keywords[word].generic for word, _ in kept) and \
            any(hit.field != NAME and self.keywords[word].category for word, hit in kept)

    def generic_name_category_only(self, exclude: frozenset[str] | set[str] = frozenset()) -> bool:
        """True when every matched word is generic and carried by the names of many LoRAs
        (``Keyword.name_category``).

        A generic word that only this LoRA (or it and one more, often its other version) is called by names it:
        "anime" -> ``anime_style_v2``. A generic word that many LoRAs are called by ("style" in
        ``ghibli_style_v2``, ``acme/v1/style``, ``acme/v2/style``) singles none of them out: a prompt that
        merely uses the word ("ghibli style") asks for none of them, and its specific words name the LoRA it
        wants. Learned habits still can pick such a LoRA (see ``selection.combined``)."""
        kept = [word for word in self.hits if word not in exclude]
        return bool(kept) and all(self.keywords[word].name_category for word in kept)

    def specific_words(self, keywords: dict[str, Keyword]) -> set[str]:
        """Words that are evidence: not generic, in a trigger/name/tag/weak trigger, and not a common word
        matching only part of its phrase."""
        return {w for w, hit in self.hits.items()
                if not keywords[w].generic and hit.field <= WEAK and not (hit.partial and keywords[w].common)}

    def claims(self, keywords: dict[str, Keyword]) -> set[str]:
        """The prompt words this entry stands for once picked (weak-trigger words only if nothing stronger)."""
        specific = self.specific_words(keywords)
        strong = {w for w in specific if self.hits[w].field in CLAIMING_FIELDS}
        named = {w for w, hit in self.hits.items() if hit.field in CLAIMING_FIELDS}
        return strong or specific or named


def analyse_keywords(parsed: ParsedPrompt, index: SearchIndex) -> dict[str, Keyword]:
    """Rarity and genericness of every prompt word in this library."""
    total = max(1, len(index))
    norm = math.log(1 + total)
    out = {}
    for word, emphasis in parsed.keywords().items():
        df = len(index.postings.get(word, ()))
        generic = "listed as generic" if is_generic(word) else ""
        if not generic and total >= GENERIC_DF_MIN_LIBRARY and df > GENERIC_DF_RATIO * total:
            generic = f"in {df / total:.0%} of the library"
        idf = math.log(1 + total / df) / norm if df else 0.0
        posting = index.postings.get(word, {})
        category = bool(generic) and _in_metadata_of(posting) >= CATEGORY_MIN_LORAS
        name_category = bool(generic) and _name_category(posting, total)
        out[word] = Keyword(word, emphasis, df, idf, generic, is_common(word), category, name_category)
    return out


def _in_metadata_of(posting: dict[int, int]) -> int:
    """How many LoRAs carry the word in a trigger, tag or description (a posting keeps each entry's best
    field, and a trigger outranks the name), counted up to :data:`CATEGORY_MIN_LORAS`."""
    count = 0
    for field_code in posting.values():
        count += field_code != NAME
        if count >= CATEGORY_MIN_LORAS:
            break
    return count


def _name_category(posting: dict[int, int], total: int) -> bool:
    """Do at least :data:`NAME_CATEGORY_MIN_LORAS` LoRAs, and more than ``GENERIC_DF_RATIO`` of the library,
    carry the word in what they are called (name or trigger)?

    The share scales "many" with the library: "detail" in four of 190 names still names the detail LoRAs
    people pick for "highly detailed", while "style" in three of ten names, or in one name of ten in a large
    library, is a category of names."""
    needed = max(NAME_CATEGORY_MIN_LORAS, math.floor(GENERIC_DF_RATIO * total) + 1)
    if len(posting) < needed:
        return False
    count = 0
    for field_code in posting.values():
        count += field_code in OWN_FIELDS
        if count >= needed:
            return True
    return False


def _contribution(keyword: Keyword, field_code: int) -> float:
    emphasis = min(1.5, max(0.8, keyword.emphasis))
    factor = GENERIC_FACTOR if keyword.generic else 1.0
    return FIELD_WEIGHTS[field_code] * keyword.idf * factor * emphasis


def _gather(index: SearchIndex, keywords: dict[str, Keyword], allowed: Callable[[int], bool],
            only: list[int] | None = None) -> dict[int, Candidate]:
    """Candidates with their keyword hits: every entry a prompt word seeds, or only the entries ``only``
    (the same hits, for a shortlist). A generic word in more than ``GENERIC_SEED_MAX_DF`` entries seeds
    nothing and only adds hits to candidates seeded by other words."""
    seeding = [k for k in keywords.values() if not (k.generic and len(index.postings.get(k.word, ())) > GENERIC_SEED_MAX_DF)]
    seeding_words = {k.word for k in seeding}
    late = [k for k in keywords.values() if k.word not in seeding_words]
    if only is None:
        candidates: dict[int, Candidate] = {}
        for keyword in seeding:
            for entry_id, field_code in index.postings.get(keyword.word, {}).items():
                if (keyword.generic and field_code not in OWN_FIELDS) or not allowed(entry_id):
                    continue
                candidate = candidates.get(entry_id)
                if candidate is None:
                    candidate = candidates[entry_id] = Candidate(entry_id, index.entries[entry_id])
                candidate.hits[keyword.word] = Hit(keyword.word, field_code, _contribution(keyword, field_code))
    else:
        candidates = {entry_id: Candidate(entry_id, index.entries[entry_id]) for entry_id in only if allowed(entry_id)}
        for candidate in candidates.values():
            for keyword in seeding:
                field_code = index.postings.get(keyword.word, {}).get(candidate.entry_id)
                if field_code is not None and not (keyword.generic and field_code not in OWN_FIELDS):
                    candidate.hits[keyword.word] = Hit(keyword.word, field_code, _contribution(keyword, field_code))
        candidates = {entry_id: c for entry_id, c in candidates.items() if c.hits}
    for keyword in late:
        posting = index.postings.get(keyword.word, {})
        for entry_id, candidate in candidates.items():
            field_code = posting.get(entry_id)
            if field_code is not None:
                candidate.hits[keyword.word] = Hit(keyword.word, field_code, _contribution(keyword, field_code))
    return candidates


def _phrase_bonuses(candidate: Candidate, keywords: dict[str, Keyword]) -> None:
    for field_code, tokens in candidate.entry.phrases:
        if len(tokens) > 1 and all(t in keywords for t in tokens) and any(not keywords[t].generic for t in tokens):
            mean_idf = sum(keywords[t].idf for t in tokens) / len(tokens)
            candidate.phrases.append((tuple(tokens), field_code, FIELD_WEIGHTS[field_code] * PHRASE_BONUS * mean_idf))


def _idf_lookup(index: SearchIndex, keywords: dict[str, Keyword]) -> Callable[[str], float]:
    """idf of any word, generic words discounted like their hits (a phrase's generic words matter less)."""
    norm = math.log(1 + max(1, len(index)))
    cache = {w: k.idf * (GENERIC_FACTOR if k.generic else 1.0) for w, k in keywords.items()}

    def idf(word: str) -> float:
        value = cache.get(word)
        if value is None:
            df = len(index.postings.get(word, ())) or 1
            value = math.log(1 + max(1, len(index)) / df) / norm * (GENERIC_FACTOR if is_generic(word) else 1.0)
            cache[word] = value
        return value

    return idf


def _apply_coverage(candidate: Candidate, keywords: dict[str, Keyword], idf: Callable[[str], float]) -> None:
    """Scale each hit by how much of its best phrase (in the hit's field) the prompt covers.

    "floating" in a prompt covers half of the name "floating islands": the hit keeps
    ``COVERAGE_FLOOR + (1 - COVERAGE_FLOOR) * coverage`` of its weight, where coverage is idf-weighted.
    """
    for hit in candidate.hits.values():
        best = 0.0
        for field_code, tokens in candidate.entry.phrases:
            if field_code == hit.field and hit.word in tokens:
                total = sum(idf(t) for t in tokens) or 1.0
                best = max(best, sum(idf(t) for t in tokens if t in keywords) / total)
        if best:
            hit.contribution *= COVERAGE_FLOOR + (1.0 - COVERAGE_FLOOR) * best
            hit.partial = best < FULL_COVERAGE


def score_candidates(index: SearchIndex, keywords: dict[str, Keyword], allowed: Callable[[int], bool],
                     family: str, model: RelevanceModel, semantic: PromptMatch | None = None,
                     only: list[int] | None = None, semantic_top: tuple[list[int], float] | None = None
                     ) -> list[Candidate]:
    """Every candidate (a word of the prompt in its name, trigger or tag, or a near meaning), with its
    features and relevance model; not yet thresholded or ranked. With ``only`` (a shortlist, see
    :mod:`shortlist`), only those entries are scored, exactly as they would be among all candidates;
    ``semantic_top``: the semantic candidates and best similarity when the shortlist found them already.

    When unknown-family entries are allowed for a known model family (names-only mode), their keyword
    score is ``UNKNOWN_FAMILY_FACTOR`` of what it would be: a LoRA known to fit ranks first.
    """
    candidates = _gather(index, keywords, allowed, only)
    if semantic is not None:
        if semantic_top is None:
            top = semantic.top(allowed)
        else:
            kept = set(only) if only is not None else None
            top, semantic.best = [i for i in semantic_top[0] if kept is None or i in kept], semantic_top[1]
        for entry_id in top:
            candidates.setdefault(entry_id, Candidate(entry_id, index.entries[entry_id]))
    idf = _idf_lookup(index, keywords)
    raw_idf = _raw_idf(index)
    for candidate in candidates.values():
        _apply_coverage(candidate, keywords, idf)
        _phrase_bonuses(candidate, keywords)
        entry_family = candidate.entry.family
        if family != "unknown" and entry_family == "unknown":
            candidate.factor = UNKNOWN_FAMILY_FACTOR
        # the name hints the model's family (names-only evidence, as fitted); header-declared families are
        # already enforced by the family filter and say nothing more about relevance
        candidate.family_match = 1.0 if family != "unknown" and entry_family == family and \
            candidate.entry.family_source == "name" else 0.0
        if semantic is not None:
            candidate.semantic, candidate.semantic_words = semantic.of(candidate.entry_id)
            candidate.semantic_gap = candidate.semantic - semantic.best
        candidate.model, candidate.keywords, candidate.raw_idf = model, keywords, raw_idf
    return list(candidates.values())


def _raw_idf(index: SearchIndex) -> Callable[[str], float]:
    """Normalised idf of a word in this library, generic or not (for phrase coverage)."""
    norm = math.log(1 + max(1, len(index)))
    cache: dict[str, float] = {}

    def idf(word: str) -> float:
        value = cache.get(word)
        if value is None:
            df = len(index.postings.get(word, ())) or 1
            value = cache[word] = math.log(1 + max(1, len(index)) / df) / norm
        return value

    return idf


def allowed_filter(index: SearchIndex, family: str, allow_unknown: bool, skip_names: set[str]) -> Callable[[int], bool]:
    """Family filter (before any ranking), user exclusions, pickles, shadowed names, LoRAs already in the prompt."""
    memo: dict[int, bool] = {}

    def allowed(entry_id: int) -> bool:
        verdict = memo.get(entry_id)
        if verdict is None:
            entry = index.entries[entry_id]
            verdict = (entry.format == "safetensors" and not entry.excluded and index.is_listed(entry_id)
                       and compatible(entry.family, family, allow_unknown) and not _named_in(entry, skip_names))
            memo[entry_id] = verdict
        return verdict

    return allowed


def _named_in(entry: LibraryEntry, names: set[str]) -> bool:
    if not names:
        return False
    stem = entry.name.rsplit(".", 1)[0].lower()
    return stem in names or stem.rsplit("/", 1)[-1] in names or entry.name.lower() in names


def explain(candidate: Candidate, keywords: dict[str, Keyword]) -> list[str]:
    """Human-readable reasons, strongest first."""
    reasons = []
    for hit in sorted(candidate.hits.values(), key=lambda h: -h.contribution):
        where = _source_text(candidate.entry, hit.word, hit.field)
        keyword = keywords[hit.word]
        category = ", and many LoRAs are called by it" if keyword.name_category else ""
        note = f" (generic: {keyword.generic}{category})" if keyword.generic else ""
        if hit.partial and keyword.common and not note:
            note = " (a common word, part of the phrase: supporting only)"
        reasons.append(f"'{hit.word}' in {FIELD_NAMES[hit.field]} {where}{note} +{hit.contribution:.2f}")
    for tokens, field_code, bonus in candidate.phrases:
        reasons.append(f"whole {FIELD_NAMES[field_code]} '{' '.join(tokens)}' in the prompt +{bonus:.2f}")
    if candidate.semantic and candidate.semantic_words:
        reasons.append(f"close in meaning to '{' '.join(candidate.semantic_words)[:60]}' ({candidate.semantic:.2f})")
    if candidate.learned:
        reasons.append(f"learned from your picks: {candidate.learned:.2f}")
    return reasons


def _source_text(entry: LibraryEntry, word: str, field_code: int) -> str:
    sources = {TRIGGER: entry.triggers, NAME: [entry.name, entry.display_name, *entry.aliases], TAG: entry.tags,
               WEAK: entry.weak_triggers}
    if field_code not in sources:
        return "(description or example prompts)"
    splitter = name_words if field_code == NAME else words
    for text in sources[field_code]:
        if word in splitter(text) or word in text.lower():
            return f"'{text[:80]}'"
    return ""
