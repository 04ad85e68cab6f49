"""The in-memory inverted index over library entries: word -> {entry id: best field}.

Adding or removing one entry touches only its own words, so registering a new LoRA costs well under a
millisecond here and the index never needs a rebuild. Document frequencies come from the posting sizes.
All access goes through one re-entrant lock: queries take milliseconds and writers are short.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from .entry import LibraryEntry


class SearchIndex:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.entries: dict[int, LibraryEntry] = {}
        self.postings: dict[str, dict[int, int]] = {}
        self._by_path: dict[str, int] = {}
        self._by_name: dict[str, int] = {}
        self._next_id = 0
        self.generation = 0  # bumped by every change

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: LibraryEntry) -> int:
        """Add or replace (same path) an entry; returns its id. A name listed twice keeps the first root's file."""
        with self.lock:
            self.remove(entry.path)
            self.generation += 1
            entry_id = self._next_id
            self._next_id += 1
            self.entries[entry_id] = entry
            self._by_path[entry.path] = entry_id
            self._by_name.setdefault(entry.name, entry_id)
            for term, field_code in entry.terms.items():
                self.postings.setdefault(term, {})[entry_id] = field_code
            return entry_id

    def add_many(self, entries: Iterable[LibraryEntry]) -> None:
        with self.lock:
            for entry in entries:
                self.add(entry)

    def remove(self, path: str) -> LibraryEntry | None:
        with self.lock:
            entry_id = self._by_path.pop(path, None)
            if entry_id is None:
                return None
            entry = self.entries.pop(entry_id)
            self.generation += 1
            if self._by_name.get(entry.name) == entry_id:
                del self._by_name[entry.name]
                replacement = next((i for i, e in self.entries.items() if e.name == entry.name), None)
                if replacement is not None:
                    self._by_name[entry.name] = replacement
            for term in entry.terms:
                posting = self.postings.get(term)
                if posting is not None:
                    posting.pop(entry_id, None)
                    if not posting:
                        del self.postings[term]
            return entry

    def by_name(self, name: str) -> LibraryEntry | None:
        with self.lock:
            entry_id = self._by_name.get(name)
            return self.entries.get(entry_id) if entry_id is not None else None

    def by_path(self, path: str) -> LibraryEntry | None:
        with self.lock:
            entry_id = self._by_path.get(path)
            return self.entries.get(entry_id) if entry_id is not None else None

    def is_listed(self, entry_id: int) -> bool:
        """False for a file shadowed by a same-named file in an earlier root (ComfyUI would load that one)."""
        entry = self.entries.get(entry_id)
        return entry is not None and self._by_name.get(entry.name) == entry_id

    def paths(self) -> set[str]:
        with self.lock:
            return set(self._by_path)

    def snapshot(self) -> list[LibraryEntry]:
        with self.lock:
            return [self.entries[i] for i in self._by_name.values()]
