"""The shared SQLite store: per-component migrations, many threads writing, and the generations schema."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from comfyui_lora_lab.engines.lab import Lab
from comfyui_lora_lab.engines.store import Database, Migration
from comfyui_lora_lab.engines.store import generations


def test_migrations_apply_once_in_order_per_component(tmp_path):
    db = Database(tmp_path / "s.sqlite")
    steps = [Migration(1, "CREATE TABLE a (x INTEGER);"), Migration(2, "ALTER TABLE a ADD COLUMN y TEXT;")]
    assert db.migrate("alpha", steps) == 2
    assert Database(tmp_path / "s.sqlite").migrate("alpha", steps) == 2
    assert Database(tmp_path / "s.sqlite").migrate("beta", [Migration(1, "CREATE TABLE b (z INTEGER);")]) == 1
    assert [r["component"] for r in db.read("SELECT component FROM schema_versions ORDER BY component")] == ["alpha", "beta"]


def test_concurrent_writers_lose_nothing(tmp_path):
    db = Database(tmp_path / "s.sqlite")
    db.migrate("counter", [Migration(1, "CREATE TABLE c (n INTEGER); INSERT INTO c VALUES (0);")])

    def bump():
        for _ in range(125):
            with db.transaction() as conn:
                conn.execute("UPDATE c SET n = n + 1")

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert db.read("SELECT n FROM c")[0]["n"] == 1000


def test_failed_transaction_rolls_back(tmp_path):
    db = Database(tmp_path / "s.sqlite")
    db.migrate("t", [Migration(1, "CREATE TABLE t (x INTEGER UNIQUE);")])
    with pytest.raises(sqlite3.IntegrityError):
        with db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute("INSERT INTO t VALUES (1)")
    assert db.read("SELECT COUNT(*) AS n FROM t")[0]["n"] == 0


def test_generations_schema_is_created_and_enforced(tmp_path):
    db = Lab(data_dir=tmp_path).database
    db.migrate(generations.COMPONENT, generations.MIGRATIONS)
    with db.transaction() as conn:
        conn.execute("INSERT INTO batches(id, prompt, mode, tier, created) VALUES ('b1', 'cat', 'explore', 'draft', 0)")
        conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint) VALUES ('d1', 'b1', 0, 'a.safetensors')")
        conn.execute("INSERT INTO picks(draft_id, selected, picked_at) VALUES ('d1', 1, 0)")
    with pytest.raises(sqlite3.IntegrityError):
        with db.transaction() as conn:
            conn.execute("INSERT INTO batches(id, mode, created) VALUES ('b2', 'sideways', 0)")
    assert (tmp_path / "lora_lab.sqlite").exists()
