"""The generation store: idempotent records, all-or-nothing writes, counts that never drift from the rows."""

from __future__ import annotations

import random
import sqlite3

import pytest

from comfyui_lora_lab.engines.store import Database
from comfyui_lora_lab.engines.store import generation_queries as q
from comfyui_lora_lab.engines.store import generations as g
from explorer_fixtures import aggregate, recount, record_shown_batch


@pytest.fixture
def db(tmp_path):
    return Database(tmp_path / "lab.sqlite")


def _plan(batch_id="b1", names=("a", "a", "b")):
    return g.BatchRecord(batch_id, "explore", tuple(g.DraftPlan(i, n, seed=10 + i) for i, n in enumerate(names)),
                         "a cat", "t")


def test_recording_a_batch_twice_is_a_no_op_and_a_different_one_is_refused(db):
    assert g.record_batch(db, _plan()) is True
    assert g.record_batch(db, _plan()) is False
    with pytest.raises(ValueError, match="different drafts"):
        g.record_batch(db, _plan(names=("a", "b", "b")))
    assert [r["checkpoint"] for r in db.read("SELECT checkpoint FROM drafts ORDER BY idx")] == ["a", "a", "b"]


@pytest.mark.parametrize("kwargs,match", [
    ({"id": ""}, "batch id"),
    ({"mode": "sideways"}, "mode"),
    ({"drafts": (g.DraftPlan(1, "a"),)}, "0..n-1"),
])
def test_batch_records_are_validated(kwargs, match):
    fields = {"id": "b", "mode": "explore", "drafts": (g.DraftPlan(0, "a"),)} | kwargs
    with pytest.raises(ValueError, match=match):
        g.BatchRecord(**fields)


def test_images_attach_to_planned_drafts_and_count_as_shown(db):
    g.record_batch(db, _plan())
    lora = g.LoraUse("style.safetensors", 0.6)
    g.record_images(db, "b1", [g.DraftImage(0, "a", g.ImageRef("x0.png", "lab"), (lora,)),
                               g.DraftImage(3, "c", g.ImageRef("x3.png"))])
    assert q.checkpoint_counts(db) == {"a": q.CheckpointCount(0, 1), "c": q.CheckpointCount(0, 1)}
    row = db.read("SELECT * FROM drafts WHERE id = 'b1-0'")[0]
    assert (row["image_filename"], row["image_subfolder"], row["seed"]) == ("x0.png", "lab", 10)
    assert row["loras"] == '[{"name": "style.safetensors", "strength": 0.6}]'
    g.record_images(db, "b1", [g.DraftImage(0, "a", g.ImageRef("x0.png", "lab"), (lora,))])  # same again: no-op
    assert q.checkpoint_counts(db)["a"].total == 1


@pytest.mark.parametrize("image,error,match", [
    (g.DraftImage(0, "b", g.ImageRef("y.png")), ValueError, "planned for 'a'"),
    (g.DraftImage(1, "a", g.ImageRef("other.png")), ValueError, "already has image"),
    (g.DraftImage(-1, "a", g.ImageRef("y.png")), ValueError, ">= 0"),
])
def test_bad_images_record_nothing(db, image, error, match):
    g.record_batch(db, _plan())
    g.record_images(db, "b1", [g.DraftImage(1, "a", g.ImageRef("x1.png"))])
    before = (recount(db), db.read("SELECT COUNT(*) AS n FROM drafts")[0]["n"])
    with pytest.raises(error, match=match):
        g.record_images(db, "b1", [g.DraftImage(2, "b", g.ImageRef("x2.png")), image])
    assert (recount(db), db.read("SELECT COUNT(*) AS n FROM drafts")[0]["n"]) == before


def test_images_for_an_unknown_batch_are_refused(db):
    with pytest.raises(KeyError, match="not recorded"):
        g.record_images(db, "nope", [g.DraftImage(0, "a", g.ImageRef("x.png"))])


@pytest.mark.parametrize("name", ["", "../x.png", "a/b.png"])
def test_image_references_are_bare_file_names(name):
    with pytest.raises(ValueError, match="bare file name"):
        g.ImageRef(name)


def test_picks_are_idempotent_and_toggle(db):
    ids = record_shown_batch(db, "b1", ["a", "a", "b"])
    assert g.record_picks(db, ids[:2], True).changed == 2
    assert g.record_picks(db, ids[:2], True).changed == 0
    assert q.checkpoint_counts(db)["a"].to_dict() == {"selected": 2, "total": 2, "selection_rate": 1.0}
    g.record_picks(db, [ids[0]], False)
    assert q.checkpoint_counts(db)["a"].to_dict() == {"selected": 1, "total": 2, "selection_rate": 0.5}
    assert q.checkpoint_counts(db)["b"].to_dict() == {"selected": 0, "total": 1, "selection_rate": 0.0}


@pytest.mark.parametrize("ids,error,match", [
    (["b1-0", "nope"], KeyError, "unknown draft id"),
    (["b1-0", "b2-0"], ValueError, "without an image"),
    ([], ValueError, "1 to 1000"),
    ([f"x{i}" for i in range(1001)], ValueError, "1 to 1000"),
])
def test_bad_picks_record_nothing(db, ids, error, match):
    record_shown_batch(db, "b1", ["a", "b"])
    g.record_batch(db, _plan("b2", ("a",)))
    with pytest.raises(error, match=match):
        g.record_picks(db, ids, True)
    assert db.read("SELECT COUNT(*) AS n FROM picks")[0]["n"] == 0


def test_rates_round_to_four_decimals_and_are_zero_without_exposure():
    assert q.CheckpointCount(1, 3).selection_rate == 0.3333
    assert q.CheckpointCount(0, 0).selection_rate == 0.0


def test_counts_match_the_rows_through_any_sequence_of_writes(db):
    rng = random.Random(3)
    ids = []
    for b in range(30):
        ids += record_shown_batch(db, f"b{b}", [rng.choice("abc") for _ in range(4)], tier=rng.choice(["t", "u"]),
                                  category=rng.choice(["", "portrait"]))
        g.record_picks(db, rng.sample(ids, 3), rng.random() < 0.7)
    # the schema also allows verdicts on drafts without images (they count once the image arrives)
    g.record_batch(db, _plan("late", ("a", "b")))
    with db.transaction() as conn:
        conn.execute("INSERT INTO picks(draft_id, selected, picked_at) VALUES ('late-1', 1, 0)")
    g.record_images(db, "late", [g.DraftImage(1, "b", g.ImageRef("late.png"))])
    with db.transaction() as conn:
        conn.execute("DELETE FROM batches WHERE id IN ('b3', 'b7')")
        conn.execute("DELETE FROM picks WHERE draft_id IN (SELECT draft_id FROM picks LIMIT 5)")
    assert aggregate(db) == recount(db)
    assert all(sel <= shown for shown, sel in aggregate(db).values())


def test_recorded_checkpoints_and_tiers_cannot_change(db):
    record_shown_batch(db, "b1", ["a"])
    with pytest.raises(sqlite3.IntegrityError, match="cannot change"):
        with db.transaction() as conn:
            conn.execute("UPDATE drafts SET checkpoint = 'z'")
    with pytest.raises(sqlite3.IntegrityError, match="cannot change"):
        with db.transaction() as conn:
            conn.execute("UPDATE batches SET tier = 'z'")


def test_migration_2_counts_rows_recorded_before_it(tmp_path):
    db = Database(tmp_path / "old.sqlite")
    db.migrate(g.COMPONENT, g.MIGRATIONS[:1])
    with db.transaction() as conn:
        conn.execute("INSERT INTO batches(id, mode, tier, created) VALUES ('b', 'explore', 't', 0)")
        conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint, image_filename) "
                     "VALUES ('b-0', 'b', 0, 'a', 'x')")
        conn.execute("INSERT INTO picks(draft_id, selected, picked_at) VALUES ('b-0', 1, 0)")
    reopened = Database(tmp_path / "old.sqlite")
    assert q.checkpoint_counts(reopened) == {"a": q.CheckpointCount(1, 1)}


def test_history_and_recent_batches(db):
    record_shown_batch(db, "old", ["a", "b"], created=1.0)
    record_shown_batch(db, "new", ["a", "a", "b"], created=2.0)
    g.record_picks(db, ["new-2"], True)
    history = q.tier_history(db, "t", 10)
    assert [b.batch_id for b in history] == ["old", "new"]
    assert (history[0].reviewed, history[1].reviewed) == (False, True)
    assert history[1].shown == {"a": 2, "b": 1} and history[1].selected == {"a": 0, "b": 1}
    recent = q.recent_batches(db, limit=1)
    assert [b.id for b in recent] == ["new"]
    assert [d.selected for d in recent[0].drafts] == [None, None, True]
    assert recent[0].drafts[0].image == {"filename": "new_0.png", "subfolder": "", "type": "output"}
    assert [b.id for b in q.recent_batches(db, limit=5, before=2.0)] == ["old"]
