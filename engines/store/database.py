"""The pack's SQLite file: one connection per thread, WAL, and per-component schema migrations.

ComfyUI runs nodes on an executor thread while aiohttp handlers run on the event loop (and our own
background scans on other threads), all writing the same file. SQLite in WAL mode with a busy timeout
handles that when each thread has its own connection and every write is a short transaction.

Each capability owns its tables and lists its migrations as data (``Migration`` rows); the version of
each component is kept in ``schema_versions``, so capabilities evolve their tables independently.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Migration:
    """One schema step of a component: ``version`` is applied once, in order, in one transaction."""

    version: int
    sql: str


class Database:
    """A SQLite file shared by threads. Use :meth:`transaction` for writes and :meth:`read` for reads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migration_lock = threading.Lock()
        self._migrated: set[str] = set()
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=True)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locking) transaction: committed on success, rolled back on any error."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def read(self, sql: str, params: Sequence | dict = ()) -> list[sqlite3.Row]:
        return self._connection().execute(sql, params).fetchall()

    def migrate(self, component: str, migrations: Sequence[Migration]) -> int:
        """Bring ``component``'s tables to the newest version; safe to call from many threads."""
        if component in self._migrated:
            return migrations[-1].version if migrations else 0
        with self._migration_lock, self.transaction() as conn:
            row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
            current = row["version"] if row else 0
            for step in sorted(migrations, key=lambda m: m.version):
                if step.version > current:
                    for statement in _statements(step.sql):
                        conn.execute(statement)
                    current = step.version
            conn.execute(
                "INSERT INTO schema_versions(component, version) VALUES (?, ?) "
                "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                (component, current),
            )
            self._migrated.add(component)
            return current

    def close(self) -> None:
        """Close this thread's connection (other threads' connections close with their threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _statements(sql: str) -> list[str]:
    """Split a migration script into statements (``execute`` runs one at a time; ``executescript`` would
    commit the surrounding transaction)."""
    statements, start = [], 0
    for index, char in enumerate(sql):
        if char == ";" and sqlite3.complete_statement(sql[start:index + 1]):
            statements.append(sql[start:index + 1].strip())
            start = index + 1
    if sql[start:].strip():
        statements.append(sql[start:].strip())
    return statements
