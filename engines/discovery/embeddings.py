"""Entry embeddings for semantic matching: what text stands for a LoRA, a SQLite cache, a similarity index.

An entry is embedded from the words people would use for it: its name split into words (camelCase,
separators, versions dropped), its display name, trigger words and tags. Vectors are cached in the
pack's SQLite (``discovery_embeddings``) by file key and model id: a warm start reads them back and only
new or changed files are embedded. :class:`SemanticIndex` keeps them as one matrix aligned with the
search index's entry ids, so a query is one matrix product.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..store import Database
from .entry import LibraryEntry
from .search_index import SearchIndex
from .semantic import Encoder
from .store import COMPONENT, MIGRATIONS
from .text import is_generic, name_chunks, name_words

MAX_TAGS = 6
READ_CHUNK = 500
TOP_K = 10  # semantic candidates per prompt (the most similar allowed entries)


def entry_text(entry: LibraryEntry) -> str:
    """The words a LoRA is known by ("Anime_Style_v2.safetensors" -> "anime style")."""
    stem = os.path.splitext(os.path.basename(entry.name.replace("\\", "/")))[0]
    parts = [" ".join(name_words(stem) or name_chunks(stem) or [stem.lower()])]
    if entry.display_name and entry.display_name != stem:
        parts.append(" ".join(name_words(entry.display_name)))
    parts += entry.triggers[:2] + entry.tags[:MAX_TAGS]
    return ", ".join(dict.fromkeys(p.strip() for p in parts if p and p.strip()))[:300]


def file_key(entry: LibraryEntry, text: str) -> str:
    digest = hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{entry.path}\0{entry.size}\0{entry.mtime_ns}\0{digest}"


class EmbeddingCache:
    """Vectors by (file key, model id) in the pack's SQLite file."""

    def __init__(self, database: Database) -> None:
        self.database = database
        database.migrate(COMPONENT, MIGRATIONS)

    def get(self, keys: list[str], model_id: str) -> dict[str, np.ndarray]:
        found = {}
        for start in range(0, len(keys), READ_CHUNK):
            chunk = keys[start:start + READ_CHUNK]
            rows = self.database.read(f"SELECT file_key, vector FROM discovery_embeddings WHERE model = ? AND file_key "
                                      f"IN ({','.join('?' * len(chunk))})", [model_id, *chunk])
            found.update({row[0]: np.frombuffer(row[1], dtype=np.float32) for row in rows})
        return found

    def put(self, items: dict[str, np.ndarray], model_id: str) -> None:
        if items:
            with self.database.transaction() as conn:
                conn.executemany("INSERT OR REPLACE INTO discovery_embeddings(file_key, model, vector) VALUES (?, ?, ?)",
                                 [(key, model_id, np.asarray(v, dtype=np.float32).tobytes()) for key, v in items.items()])


class SemanticIndex:
    """Entry vectors aligned with a :class:`SearchIndex`, brought up to date before each query."""

    def __init__(self, encoder: Encoder, cache: EmbeddingCache | None = None) -> None:
        self.encoder = encoder
        self.cache = cache
        self._lock = threading.Lock()
        self._keys: dict[int, str] = {}
        self._vectors: dict[int, np.ndarray] = {}
        self._ids = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, 1), dtype=np.float32)
        self._generation = -1
        self.embedded = 0  # vectors computed by the model (not read from the cache) in this process

    def sync(self, index: SearchIndex) -> None:
        """Embed (or read from the cache) entries added since the last call; drop removed ones."""
        with self._lock:
            if index.generation == self._generation:
                return
            with index.lock:
                entries = dict(index.entries)
                generation = index.generation
            wanted = {entry_id: file_key(entry, text) for entry_id, entry in entries.items()
                      for text in (entry_text(entry),)}
            self._fill({i: k for i, k in wanted.items() if self._keys.get(i) != k}, entries)
            self._keys = {i: self._keys[i] for i in wanted}
            self._vectors = {i: self._vectors[i] for i in wanted}
            self._ids = np.array(sorted(self._vectors), dtype=np.int64)
            self._matrix = np.stack([self._vectors[int(i)] for i in self._ids]) if len(self._ids) else self._matrix[:0]
            self._generation = generation

    def _fill(self, missing: dict[int, str], entries: dict[int, LibraryEntry]) -> None:
        if not missing:
            return
        model_id = self.encoder.model_id
        cached = self.cache.get(list(set(missing.values())), model_id) if self.cache else {}
        todo = [(i, k) for i, k in missing.items() if k not in cached]
        vectors = self.encoder.encode([entry_text(entries[i]) for i, _ in todo])
        fresh = {key: vector for (_, key), vector in zip(todo, vectors)}
        self.embedded += len(fresh)
        if self.cache:
            self.cache.put(fresh, model_id)
        for entry_id, key in missing.items():
            self._keys[entry_id] = key
            self._vectors[entry_id] = fresh[key] if key in fresh else cached[key]

    def similarities(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(entry ids, similarity matrix texts x entries) for the current vectors."""
        queries = self.encoder.encode_phrases(texts)
        with self._lock:
            ids, matrix = self._ids, self._matrix
        if not len(ids) or not len(queries):
            return ids, np.zeros((len(queries), len(ids)), dtype=np.float32)
        return ids, queries @ matrix.T

    def match(self, phrases: list[tuple[str, ...]]) -> PromptMatch | None:
        """Each entry's best similarity to one of the prompt's ``phrases`` (word tuples); None without any."""
        if not phrases:
            return None
        queries = self.encoder.encode_phrases([" ".join(p) for p in phrases])
        with self._lock:
            ids, matrix = self._ids, self._matrix
        if not len(ids):
            return None
        best, phrase_of_entry = self.encoder.best_matches(queries, matrix)
        return PromptMatch(ids, best, phrase_of_entry, phrases)


@dataclass
class PromptMatch:
    """Similarities of one prompt's phrases to every entry: the best per entry and which phrase gave it."""

    ids: np.ndarray  # entry ids, ascending
    best_per_entry: np.ndarray
    phrase_of_entry: np.ndarray
    phrases: list[tuple[str, ...]]
    best: float = 0.0

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=np.int64)
        self.generic_phrases = [all(map(is_generic, phrase)) for phrase in self.phrases]

    def of(self, entry_id: int) -> tuple[float, tuple[str, ...]]:
        position = int(np.searchsorted(self.ids, entry_id))
        if position >= len(self.ids) or self.ids[position] != entry_id:
            return 0.0, ()
        return float(self.best_per_entry[position]), self.phrases[int(self.phrase_of_entry[position])]

    def top(self, allowed: Callable[[int], bool], k: int = TOP_K) -> list[int]:
        """The ``k`` most similar allowed entries; sets :attr:`best` to the similarity of the first."""
        out = []
        for position in np.argsort(-self.best_per_entry, kind="stable"):
            entry_id = int(self.ids[int(position)])
            if allowed(entry_id):
                out.append(entry_id)
                if len(out) >= k:
                    break
        self.best = self.of(out[0])[0] if out else 0.0
        return out
