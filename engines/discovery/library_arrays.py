"""The library as numpy arrays, for scoring a prompt against every entry at once (see :mod:`shortlist`).

Built once per library state (the search index's ``generation``) and reused by every query until a file
is added or removed: entry flags and families, the inverted index's postings as (positions, fields)
arrays, and every name/trigger/tag phrase as a row of token ids with its idf weights. A query then
costs a few array operations per prompt word instead of Python work per matching entry, which is what
keeps a 10,000-name library within a query budget of tens of milliseconds.
"""

from __future__ import annotations

import math

import numpy as np

from .entry import NAME, TRIGGER
from .families import compatible
from .feedback import lora_key
from .scoring import GENERIC_FACTOR
from .text import is_generic

_EMPTY = np.zeros(0, dtype=np.int64)


class LibraryArrays:
    """Array view of one :class:`SearchIndex` generation; positions follow sorted entry ids."""

    def __init__(self, index) -> None:
        self.generation = index.generation
        self.ids = np.array(sorted(index.entries), dtype=np.int64)
        entries = [index.entries[int(i)] for i in self.ids]
        self.size = len(entries)
        self._names = [e.name for e in entries]
        self._by_key: dict[str, list[int]] | None = None
        self._aligned: tuple | None = None
        self._postings_source = index.postings
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.base_allowed = np.array([e.format == "safetensors" and not e.excluded and index.is_listed(int(i))
                                      for i, e in zip(self.ids, entries)], dtype=bool)
        self.family_names = sorted({e.family for e in entries})
        codes = {name: code for code, name in enumerate(self.family_names)}
        self.family_code = np.array([codes[e.family] for e in entries], dtype=np.int64)
        self.family_from_name = np.array([e.family_source == "name" for e in entries], dtype=bool)
        self.unknown_family = np.array([e.family == "unknown" for e in entries], dtype=bool)
        self._build_phrases(entries)

    def _build_phrases(self, entries) -> None:
        self.vocabulary: dict[str, int] = {}
        owner, fields, lengths, tokens = [], [], [], []
        for position, entry in enumerate(entries):
            for field_code, phrase in entry.phrases:
                owner.append(position)
                fields.append(field_code)
                lengths.append(len(phrase))
                tokens.extend(self.vocabulary.setdefault(token, len(self.vocabulary)) for token in phrase)
        self.phrase_entry = np.array(owner, dtype=np.int64)
        self.phrase_field = np.array(fields, dtype=np.int64)
        self.phrase_length = np.array(lengths, dtype=np.int64)
        self.phrase_own = np.isin(self.phrase_field, (TRIGGER, NAME))
        token_ids = np.array(tokens, dtype=np.int64)
        phrase_of_token = np.repeat(np.arange(len(owner), dtype=np.int64), self.phrase_length)
        order = np.argsort(token_ids, kind="stable")
        self._token_phrases = phrase_of_token[order]
        self._token_start = np.searchsorted(token_ids[order], np.arange(len(self.vocabulary) + 1))
        words = list(self.vocabulary)
        norm = math.log(1 + max(1, self.size))
        raw = np.array([math.log(1 + max(1, self.size) / (len(self._postings_source.get(w, ())) or 1)) / norm
                        for w in words])
        self.raw_idf = raw
        self.listed_idf = raw * np.array([GENERIC_FACTOR if is_generic(w) else 1.0 for w in words])
        self.phrase_raw_total = np.bincount(phrase_of_token, weights=raw[token_ids], minlength=len(owner))
        self.phrase_listed_total = np.bincount(phrase_of_token, weights=self.listed_idf[token_ids],
                                               minlength=len(owner))

    def phrases_with(self, word: str) -> np.ndarray:
        """Phrase rows holding ``word`` (a row twice when the word is in it twice)."""
        token = self.vocabulary.get(word)
        if token is None:
            return _EMPTY
        return self._token_phrases[self._token_start[token]:self._token_start[token + 1]]

    def posting(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """(positions, fields) of the entries holding ``word`` (each entry's best field)."""
        cached = self._postings.get(word)
        if cached is None:
            posting = self._postings_source.get(word, {})
            positions = np.searchsorted(self.ids, np.fromiter(posting.keys(), dtype=np.int64, count=len(posting)))
            fields = np.fromiter(posting.values(), dtype=np.int64, count=len(posting))
            cached = self._postings[word] = (positions, fields)
        return cached

    def allowed(self, family: str, allow_unknown: bool, skipped: np.ndarray) -> np.ndarray:
        """The family filter and the pack's exclusions as a mask over positions (``skipped``: positions of
        LoRAs already in the prompt)."""
        fits = np.array([compatible(name, family, allow_unknown) for name in self.family_names], dtype=bool)
        mask = self.base_allowed & fits[self.family_code] if len(fits) else self.base_allowed.copy()
        mask[skipped] = False
        return mask

    def positions_of_keys(self, keys: set[str]) -> np.ndarray:
        """Positions of the entries whose :func:`feedback.lora_key` is in ``keys``."""
        if self._by_key is None:
            self._by_key = {}
            for position, name in enumerate(self._names):
                self._by_key.setdefault(lora_key(name), []).append(position)
        return np.array([p for key in keys for p in self._by_key.get(key, ())], dtype=np.int64)

    def align(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions, present, row of each position or -1) of a semantic index's entry ``ids`` (ascending)
        in this library; cached while the semantic index keeps the same ids array."""
        if self._aligned is None or self._aligned[0] is not ids:
            positions = np.minimum(np.searchsorted(self.ids, ids), max(0, self.size - 1))
            present = self.ids[positions] == ids if self.size else np.zeros(len(ids), dtype=bool)
            rows = np.full(self.size, -1, dtype=np.int64)
            rows[positions[present]] = np.flatnonzero(present)
            self._aligned = (ids, positions, present, rows)
        return self._aligned[1:]

    def positions(self, entry_ids) -> np.ndarray:
        return np.searchsorted(self.ids, np.asarray(list(entry_ids), dtype=np.int64))
