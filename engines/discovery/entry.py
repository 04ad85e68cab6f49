"""One LoRA in the library: what the header and the sidecars say, merged, and the words it can be found by.

Fields rank evidence (Stylus' lesson: ground every pick in a specific field): a trigger word beats a
name or title, which beats a tag, which beats a weak trigger (a frequent training caption tag), which
beats a description or example prompt. :func:`derive_entry` is pure: the scanner gives it the header
facts, the sidecars and the file's identity, and stores the result.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field

from .families import family_from_name, family_of_label
from .headers import HeaderFacts
from .sidecars import SidecarInfo
from .text import is_generic, name_chunks, name_words, raw_name_tokens, words

TRIGGER, NAME, TAG, WEAK, TEXT = 0, 1, 2, 3, 4
FIELD_NAMES = ("trigger", "name", "tag", "weak trigger", "description")
MAX_TEXT_TERMS = 40
MAX_WEAK_TRIGGERS = 8
MAX_STORED_EXAMPLES = 3
MAX_EXAMPLE_CHARS = 300  # stored per example prompt (the index keeps their words, the report a glimpse)
MAX_DESCRIPTION_CHARS = 600
# kohya dataset folders are "<repeats>_<instance prompt>"; these instance names are not triggers.
FOLDER_NOISE = frozenset({"img", "imgs", "image", "images", "data", "dataset", "train", "training", "pics", "photos",
                          "style", "character", "concept", "reg", "regularization", "sdxl", "sd15", "lora"})


@dataclass
class LibraryEntry:
    """Everything discovery knows about one LoRA file (JSON-serialisable, stored in SQLite)."""

    name: str
    path: str
    size: int = 0
    mtime_ns: int = 0
    display_name: str = ""
    aliases: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    weak_triggers: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    family: str = "unknown"
    family_source: str = "unknown"
    family_evidence: str = ""
    base_model: str = ""
    rank: int | None = None
    strength: list[float] | None = None
    examples: list[str] = field(default_factory=list)
    description: str = ""
    format: str = "safetensors"
    adapter: str = "lora"
    excluded: bool = False
    header_bytes: int = 0
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    terms: dict[str, int] = field(default_factory=dict)
    phrases: list[list] = field(default_factory=list)  # [field, [word, ...]] for every trigger, name, tag

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LibraryEntry:
        return cls(**json.loads(text))

    def summary(self) -> dict:
        """What the routes list (no search terms)."""
        data = asdict(self)
        for key in ("terms", "phrases", "path", "mtime_ns"):
            data.pop(key)
        return data


def _dedupe(values: list[str]) -> list[str]:
    seen, out = set(), []
    for value in values:
        key = value.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(value.strip())
    return out


def _header_triggers(metadata: dict[str, str]) -> list[str]:
    triggers = [w for w in metadata.get("modelspec.trigger_phrase", "").split(",") if w.strip()]
    raw = metadata.get("trained_words", "") or metadata.get("ss_trained_words", "")
    try:
        listed = json.loads(raw) if raw.startswith("[") else raw.split(",")
    except json.JSONDecodeError:
        listed = raw.split(",")
    return triggers + [w for w in listed if isinstance(w, str) and w.strip()]


def _tag_frequency(metadata: dict[str, str], warnings: list[str]) -> tuple[list[str], list[str]]:
    """(most frequent caption tags, dataset folder phrases like "ohwx woman" from "10_ohwx woman").

    kohya's DreamBooth-style folders name the instance prompt, which is the trigger people type."""
    raw = metadata.get("ss_tag_frequency", "")
    if not raw:
        return [], []
    try:
        buckets = json.loads(raw)
    except json.JSONDecodeError:
        warnings.append("ss_tag_frequency is not valid JSON; ignored")
        return [], []
    if not isinstance(buckets, dict):
        return [], []
    folders = []
    for folder in buckets:
        repeats, _, phrase = str(folder).partition("_")
        if repeats.isdigit() and phrase.strip() and phrase.strip().lower() not in FOLDER_NOISE:
            folders.append(phrase.strip())
    return _top_tags([tags for tags in buckets.values() if isinstance(tags, dict)]), folders


def _top_tags(buckets: list[dict]) -> list[str]:
    """The most frequent tags over the dataset folders (a C-level sort: tag sets run to thousands)."""
    if len(buckets) == 1:
        totals = buckets[0]
    else:
        totals = Counter()
        for tags in buckets:
            totals.update({tag: count for tag, count in tags.items() if isinstance(count, (int, float))})
    try:
        ranked = sorted(totals, key=totals.get, reverse=True)
    except TypeError:  # a non-numeric count somewhere: keep only the numeric ones
        totals = {tag: count for tag, count in totals.items() if isinstance(count, (int, float))}
        ranked = sorted(totals, key=totals.get, reverse=True)
    return [tag.strip() for tag in ranked[:MAX_WEAK_TRIGGERS * 2] if isinstance(tag, str) and tag.strip()][:MAX_WEAK_TRIGGERS]


def _family(facts: HeaderFacts | None, sidecars: SidecarInfo, stem_tokens: list[str], warnings: list[str]):
    """(family, source, evidence, label): header-declared, else sidecar-declared, else inferred, else name."""
    inferred = facts.family if facts is not None else None
    if inferred is not None and inferred.source == "declared":
        return inferred.family, "declared", inferred.evidence, ""
    for label in sidecars.base_models:
        family = family_of_label(label)
        if family is not None:
            if inferred is not None and inferred.family not in ("unknown", family):
                warnings.append(f"sidecar says base model '{label}' ({family}) but the keys look like "
                                f"{inferred.family} ({inferred.evidence}); using {family}")
            return family, "declared", f"sidecar base model '{label}'", label
    if inferred is not None and inferred.family != "unknown":
        return inferred.family, inferred.source, inferred.evidence, ""
    hinted = family_from_name(stem_tokens)
    if hinted is not None:
        return hinted, "name", "the file name", ""
    return "unknown", "unknown", "nothing in the header, sidecars or name", ""


def _add_terms(entry: LibraryEntry, field_code: int, phrases: list[str], splitter=words) -> None:
    for phrase in phrases:
        tokens = splitter(phrase)
        for token in tokens:
            if field_code < entry.terms.get(token, TEXT + 1):
                entry.terms[token] = field_code
        if tokens and field_code != TEXT and [field_code, tokens] not in entry.phrases:
            entry.phrases.append([field_code, tokens])


def _text_terms(entry: LibraryEntry, texts: list[str]) -> None:
    counts = Counter(word for text in texts for word in set(words(text)) if not is_generic(word))
    for word, _ in counts.most_common(MAX_TEXT_TERMS):
        entry.terms.setdefault(word, TEXT)


def index_terms(entry: LibraryEntry) -> None:
    """Fill ``terms`` and ``phrases`` from the entry's text fields."""
    entry.terms, entry.phrases = {}, []
    stem = os.path.splitext(os.path.basename(entry.name))[0]
    _add_terms(entry, TRIGGER, entry.triggers)
    names = [stem, entry.display_name, *entry.aliases]
    _add_terms(entry, NAME, names, name_words)
    _add_terms(entry, NAME, [chunk for name in names for chunk in name_chunks(name)])
    _add_terms(entry, TAG, entry.tags)
    _add_terms(entry, WEAK, entry.weak_triggers)
    _text_terms(entry, [entry.description, *entry.examples])


def derive_entry(name: str, path: str, size: int, mtime_ns: int, facts: HeaderFacts | None,
                 sidecars: SidecarInfo, warnings: list[str]) -> LibraryEntry:
    """Merge header facts and sidecars into an entry (``facts`` None: the header could not be read)."""
    metadata = facts.metadata if facts is not None else {}
    warnings = list(warnings) + (facts.warnings if facts else []) + sidecars.warnings
    stem = os.path.splitext(os.path.basename(name))[0]
    top_tags, folder_phrases = _tag_frequency(metadata, warnings)
    titles = [metadata.get("modelspec.title", ""), metadata.get("ss_output_name", "")]
    family, source, evidence, label = _family(facts, sidecars, raw_name_tokens(stem), warnings)
    entry = LibraryEntry(
        name=name, path=path, size=size, mtime_ns=mtime_ns,
        display_name=next((n for n in sidecars.names + titles if n.strip()), stem).strip(),
        aliases=_dedupe([t for t in titles + sidecars.names[1:] if t.strip()]),
        triggers=_dedupe(_header_triggers(metadata) + sidecars.triggers + folder_phrases),
        weak_triggers=_dedupe(sidecars.weak_triggers + top_tags),
        tags=_dedupe(sidecars.tags),
        family=family, family_source=source, family_evidence=evidence,
        base_model=label or next(iter(sidecars.base_models), ""),
        rank=facts.rank if facts else None,
        strength=[sidecars.strength.low, sidecars.strength.high] if sidecars.strength else None,
        examples=[example[:MAX_EXAMPLE_CHARS] for example in sidecars.examples[:MAX_STORED_EXAMPLES]],
        description=" ".join(sidecars.descriptions)[:MAX_DESCRIPTION_CHARS],
        adapter=facts.adapter if facts else "lora",
        excluded=sidecars.excluded,
        header_bytes=facts.bytes_read if facts else 0,
        sources=(["header"] if metadata else []) + sidecars.sources,
        warnings=_dedupe(warnings),
    )
    index_terms(entry)
    return entry
