"""The store under the conditions ComfyUI creates: concurrent writers, restarts, a process killed mid-write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

from comfyui_lora_lab.engines.store import Database
from comfyui_lora_lab.engines.store import generation_queries as q
from comfyui_lora_lab.engines.store import generations as g
from explorer_fixtures import aggregate, recount, record_shown_batch

STATS_SCRIPT = """
import json, sys
from comfyui_lora_lab.engines.store import Database
from comfyui_lora_lab.engines.store import generation_queries as q
print(json.dumps({k: v.to_dict() for k, v in q.checkpoint_counts(Database(sys.argv[1])).items()}, sort_keys=True))
"""

WRITER_SCRIPT = """
import sys
from comfyui_lora_lab.engines.store import Database
from comfyui_lora_lab.engines.store import generations as g
db = Database(sys.argv[1])
i = 0
while True:
    drafts = tuple(g.DraftPlan(j, "abc"[j % 3]) for j in range(6))
    g.record_batch(db, g.BatchRecord(f"b{i}", "explore", drafts, tier="t"))
    g.record_images(db, f"b{i}", [g.DraftImage(j, d.checkpoint, g.ImageRef(f"{i}_{j}.png"))
                                  for j, d in enumerate(drafts)])
    g.record_picks(db, [f"b{i}-{j}" for j in range(0, 6, 2)], True)
    print(i, flush=True)
    i += 1
"""


def test_a_thousand_concurrent_picks_from_eight_threads_lose_none(tmp_path):
    db = Database(tmp_path / "lab.sqlite")
    ids = []
    for b in range(50):
        ids += record_shown_batch(db, f"b{b}", ["a", "b", "c", "d"] * 5)
    assert len(ids) == 1000
    errors = []

    def pick(chunk):
        try:
            for draft in chunk:
                g.record_picks(db, [draft], True)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=pick, args=(ids[n::8],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.read("SELECT COUNT(*) AS n FROM picks WHERE selected = 1")[0]["n"] == 1000
    assert {k: v.to_dict() for k, v in q.checkpoint_counts(db).items()} == {
        name: {"selected": 250, "total": 250, "selection_rate": 1.0} for name in "abcd"}
    assert aggregate(db) == recount(db)


def test_a_restart_returns_identical_stats(tmp_path):
    path = tmp_path / "lab.sqlite"
    db = Database(path)
    for b in range(5):
        ids = record_shown_batch(db, f"b{b}", ["a", "b", "b", "c"])
        g.record_picks(db, ids[b % 4:b % 4 + 1], True)
    before = json.dumps({k: v.to_dict() for k, v in q.checkpoint_counts(db).items()}, sort_keys=True)
    db.close()
    after = subprocess.run([sys.executable, "-c", STATS_SCRIPT, str(path)], capture_output=True, text=True,
                           check=True).stdout.strip()
    assert after == before
    reopened = {k: v.to_dict() for k, v in q.checkpoint_counts(Database(path)).items()}
    assert json.dumps(reopened, sort_keys=True) == before


def test_killing_a_writer_mid_write_leaves_a_consistent_database(tmp_path):
    path = tmp_path / "lab.sqlite"
    Database(path).migrate(g.COMPONENT, g.MIGRATIONS)
    writer = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        for line in writer.stdout:
            if int(line) >= 40:
                break
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    db = Database(path)
    assert db.read("PRAGMA integrity_check")[0][0] == "ok"
    assert db.read("PRAGMA foreign_key_check") == []
    per_batch = db.read("SELECT b.id, COUNT(d.id) AS drafts, SUM(d.image_filename != '') AS images "
                        "FROM batches b LEFT JOIN drafts d ON d.batch_id = b.id GROUP BY b.id")
    assert len(per_batch) >= 41
    assert all(row["drafts"] == 6 and row["images"] in (0, 6) for row in per_batch)
    assert aggregate(db) == recount(db)
