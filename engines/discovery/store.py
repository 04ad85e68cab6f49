"""Discovery's tables in the pack's SQLite file (component ``discovery``).

- ``discovery_files``: one row per indexed file, keyed by its path (bytes, so names that are not UTF-8
  survive), with the size, mtime and sidecar signature that decide whether it must be read again, and
  the derived entry as ASCII JSON.
- ``discovery_affinity``: the (keyword, LoRA) pick aggregates learned from the generation store.
- ``discovery_embeddings`` (migration 2): sentence-embedding vectors of entries, keyed by the file key
  (path, size, mtime and the embedded text's hash) and the model id, so only new or changed files are embedded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..store import Database, Migration
from .entry import LibraryEntry

COMPONENT = "discovery"
MIGRATIONS = (
    Migration(1, """
CREATE TABLE discovery_files (
    path BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sidecars TEXT NOT NULL DEFAULT '',
    entry TEXT NOT NULL,
    indexed_at REAL NOT NULL
);
CREATE TABLE discovery_affinity (
    keyword TEXT NOT NULL,
    lora TEXT NOT NULL,
    shown REAL NOT NULL,
    picked REAL NOT NULL,
    PRIMARY KEY (keyword, lora)
);
"""),
    Migration(2, """
CREATE TABLE discovery_embeddings (
    file_key TEXT NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (file_key, model)
);
"""),
)


@dataclass(frozen=True)
class FileKey:
    """What decides whether a file must be read again: size, mtime and its sidecars' signature."""

    size: int
    mtime_ns: int
    sidecars: str


@dataclass
class StoredFile:
    key: FileKey
    entry_json: str


def path_bytes(path: str) -> bytes:
    return os.fsencode(path)


class IndexStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        database.migrate(COMPONENT, MIGRATIONS)

    def load(self) -> dict[str, StoredFile]:
        rows = self.database.read("SELECT path, size, mtime_ns, sidecars, entry FROM discovery_files")
        return {os.fsdecode(bytes(row[0])): StoredFile(FileKey(row[1], row[2], row[3]), row[4]) for row in rows}

    def save(self, items: Iterable[tuple[LibraryEntry, FileKey]]) -> None:
        now = time.time()
        rows = [(path_bytes(entry.path), key.size, key.mtime_ns, key.sidecars, entry.to_json(), now)
                for entry, key in items]
        if not rows:
            return
        with self.database.transaction() as conn:
            conn.executemany(
                "INSERT INTO discovery_files(path, size, mtime_ns, sidecars, entry, indexed_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "sidecars = excluded.sidecars, entry = excluded.entry, indexed_at = excluded.indexed_at", rows)

    def delete(self, paths: Iterable[str]) -> None:
        rows = [(path_bytes(path),) for path in paths]
        if rows:
            with self.database.transaction() as conn:
                conn.executemany("DELETE FROM discovery_files WHERE path = ?", rows)
