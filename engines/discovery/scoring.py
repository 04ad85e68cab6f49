"""Per-keyword scoring of library entries for a prompt, with the guards the anchors ask for.

- Family filter first: an entry for another base family is never scored when the model's family is known.
- Each prompt word scores the entries it occurs in by field (trigger > name > tag > weak trigger >
  description) times its rarity (idf); a multi-word trigger, name or tag that the prompt contains whole
  adds a phrase bonus.
- Generic-word guard: a generic word (a listed one, or one found in more than 5% of a large library)
  scores a quarter and never counts as evidence; an entry needs a specific word to be a candidate.
- Relevance = 1 - exp(-score / scale), in [0, 1): below the threshold the entry is not picked, and
  "no LoRA" is a valid answer (Stylus: retrieval without grounding is worse than no LoRA).
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
from .search_index import SearchIndex
from .commonness import is_common
from .text import is_generic, name_words, words

FIELD_WEIGHTS = (3.0, 2.0, 1.2, 0.8, 0.4)  # trigger, name, tag, weak trigger, description/examples
CLAIMING_FIELDS = (TRIGGER, NAME, TAG)
GENERIC_FACTOR = 0.25
GENERIC_DF_RATIO = 0.05
GENERIC_DF_MIN_LIBRARY = 200
PHRASE_BONUS = 0.75
COVERAGE_FLOOR = 0.4
UNKNOWN_FAMILY_FACTOR = 0.7
FULL_COVERAGE = 0.999
RELEVANCE_SCALE = 2.0


@dataclass(frozen=True)
class Keyword:
    word: str
    emphasis: float
    df: int
    idf: float  # normalised to (0, 1]
    generic: str  # "" when specific, else why it is generic
    common: bool = False  # a common English word (see commonness): partial phrase matches are no evidence


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
    boost: float = 1.0  # learned from picks: re-orders only (see selection)
    factor: float = 1.0  # < 1 for an entry whose family is unknown while the model's is known

    def score(self, exclude: frozenset[str] | set[str] = frozenset()) -> float:
        total = sum(hit.contribution for word, hit in self.hits.items() if word not in exclude)
        for tokens, _, bonus in self.phrases:
            if not set(tokens) <= set(exclude):
                total += bonus
        return total * self.factor

    def relevance(self, exclude: frozenset[str] | set[str] = frozenset()) -> float:
        return 1.0 - math.exp(-self.score(exclude) / RELEVANCE_SCALE)

    def specific_words(self, keywords: dict[str, Keyword]) -> set[str]:
        """Words that are evidence: not generic, in a trigger/name/tag/weak trigger, and not a common word
        matching only part of its phrase."""
        return {w for w, hit in self.hits.items()
                if not keywords[w].generic and hit.field <= WEAK and not (hit.partial and keywords[w].common)}

    def claims(self, keywords: dict[str, Keyword]) -> set[str]:
        """The prompt words this entry stands for once picked (weak-trigger words only if nothing stronger)."""
        specific = self.specific_words(keywords)
        strong = {w for w in specific if self.hits[w].field in CLAIMING_FIELDS}
        return strong or specific


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
        out[word] = Keyword(word, emphasis, df, idf, generic, is_common(word))
    return out


def _contribution(keyword: Keyword, field_code: int) -> float:
    emphasis = min(1.5, max(0.8, keyword.emphasis))
    factor = GENERIC_FACTOR if keyword.generic else 1.0
    return FIELD_WEIGHTS[field_code] * keyword.idf * factor * emphasis


def _gather(index: SearchIndex, keywords: dict[str, Keyword], allowed: Callable[[int], bool]) -> dict[int, Candidate]:
    candidates: dict[int, Candidate] = {}
    for keyword in keywords.values():
        if keyword.generic:
            continue
        for entry_id, field_code in index.postings.get(keyword.word, {}).items():
            if not allowed(entry_id):
                continue
            candidate = candidates.get(entry_id)
            if candidate is None:
                candidate = candidates[entry_id] = Candidate(entry_id, index.entries[entry_id])
            candidate.hits[keyword.word] = Hit(keyword.word, field_code, _contribution(keyword, field_code))
    for keyword in keywords.values():
        if keyword.generic:
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
                     family: str = "unknown") -> list[Candidate]:
    """Every grounded candidate (at least one specific word), scored; not yet thresholded or ranked.

    When unknown-family entries are allowed for a known model family (names-only mode), they score
    ``UNKNOWN_FAMILY_FACTOR`` of what they would: a LoRA known to fit ranks first.
    """
    candidates = _gather(index, keywords, allowed)
    idf = _idf_lookup(index, keywords)
    grounded = []
    for candidate in candidates.values():
        _apply_coverage(candidate, keywords, idf)
        if candidate.specific_words(keywords):
            _phrase_bonuses(candidate, keywords)
            if family != "unknown" and candidate.entry.family == "unknown":
                candidate.factor = UNKNOWN_FAMILY_FACTOR
            grounded.append(candidate)
    return grounded


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
        note = f" (generic: {keywords[hit.word].generic})" if keywords[hit.word].generic else ""
        if hit.partial and keywords[hit.word].common and not note:
            note = " (a common word, part of the phrase: supporting only)"
        reasons.append(f"'{hit.word}' in {FIELD_NAMES[hit.field]} {where}{note} +{hit.contribution:.2f}")
    for tokens, field_code, bonus in candidate.phrases:
        reasons.append(f"whole {FIELD_NAMES[field_code]} '{' '.join(tokens)}' in the prompt +{bonus:.2f}")
    if candidate.boost != 1.0:
        reasons.append(f"ranking x{candidate.boost:.2f} from your picks")
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
