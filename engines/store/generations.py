"""Schema of what the pack generated and what the user picked: the data every learning part reads.

One schema, agreed by the capabilities that learn from picks:

- ``batches``: one queued set of drafts (prompt, mode explore/quick, tier, created time).
- ``drafts``: one image of a batch: which checkpoint and LoRAs (JSON list of ``{"name", "strength"}``)
  made it, its seed and its image file (ComfyUI ``/view`` reference: filename, subfolder, type).
- ``picks``: the user's verdict on a draft; one row per draft (re-picking updates it), so picks are idempotent.

CheckpointExplorer credits checkpoints from drafts + picks; AutoLoRADiscover credits (keyword, LoRA)
pairs from the batch prompt + the draft's LoRAs + picks. Aggregates live in each capability's own tables.

Migration 2 adds ``checkpoint_counts``: drafts shown (with an image) and selected per (tier, prompt
category, checkpoint), kept by triggers in the same transaction as the row that changes them, so the
counts can never drift from the rows whoever writes them, and reading the stats costs one row per
checkpoint however many drafts exist. Checkpoint, tier and category of recorded rows are immutable (the
counts are keyed by them); a pick counts as selected only while its draft has an image, so
``selected <= total`` always holds.

The functions below write and read these tables; every write is one transaction (all or nothing).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .database import Database, Migration

COMPONENT = "generations"
MODES = ("explore", "quick")
MAX_PICKS_PER_CALL = 1000

# (no INSERT OR IGNORE: inside a trigger the conflict policy of the outer statement, e.g. an upsert, wins)
_COUNT_FOR_DRAFT = """
    INSERT INTO checkpoint_counts(tier, category, checkpoint)
    SELECT b.tier, b.category, {checkpoint} FROM batches b WHERE b.id = {batch} AND NOT EXISTS (
        SELECT 1 FROM checkpoint_counts c
        WHERE c.tier = b.tier AND c.category = b.category AND c.checkpoint = {checkpoint});
    UPDATE checkpoint_counts SET shown = shown + ({shown}), selected = selected + ({selected})
    WHERE (tier, category) = (SELECT tier, category FROM batches WHERE id = {batch})
      AND checkpoint = {checkpoint};"""


def _count(checkpoint: str, batch: str, shown: str, selected: str) -> str:
    """Trigger body adding ``shown``/``selected`` to the counts of a draft's (tier, category, checkpoint)."""
    return _COUNT_FOR_DRAFT.format(checkpoint=checkpoint, batch=batch, shown=shown, selected=selected)


_SIGN = "(CASE WHEN NEW.image_filename = '' THEN -1 ELSE 1 END)"


def _of_pick(column: str, row: str) -> str:
    """A column of the draft a pick row (NEW/OLD) belongs to."""
    return f"(SELECT {column} FROM drafts WHERE id = {row}.draft_id)"


def _shown(row: str) -> str:
    """Only picks of drafts that were shown (have an image) count as selected."""
    return f"COALESCE({_of_pick('image_filename', row)}, '') != ''"

MIGRATIONS = (
    Migration(1, """
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    prompt TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL CHECK (mode IN ('explore', 'quick')),
    tier TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE drafts (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    loras TEXT NOT NULL DEFAULT '[]',
    seed INTEGER NOT NULL DEFAULT 0,
    image_filename TEXT NOT NULL DEFAULT '',
    image_subfolder TEXT NOT NULL DEFAULT '',
    image_type TEXT NOT NULL DEFAULT 'output',
    UNIQUE (batch_id, idx)
);
CREATE INDEX drafts_checkpoint ON drafts(checkpoint);
CREATE TABLE picks (
    draft_id TEXT PRIMARY KEY REFERENCES drafts(id) ON DELETE CASCADE,
    selected INTEGER NOT NULL CHECK (selected IN (0, 1)),
    picked_at REAL NOT NULL
);
"""),
    Migration(2, f"""
CREATE TABLE checkpoint_counts (
    tier TEXT NOT NULL,
    category TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    shown INTEGER NOT NULL DEFAULT 0 CHECK (shown >= 0),
    selected INTEGER NOT NULL DEFAULT 0 CHECK (selected >= 0 AND selected <= shown),
    PRIMARY KEY (tier, category, checkpoint)
);
CREATE INDEX batches_tier_created ON batches(tier, created);
CREATE INDEX batches_created ON batches(created);
INSERT INTO checkpoint_counts(tier, category, checkpoint, shown, selected)
    SELECT b.tier, b.category, d.checkpoint, COUNT(*), COALESCE(SUM(p.selected), 0)
    FROM drafts d JOIN batches b ON b.id = d.batch_id LEFT JOIN picks p ON p.draft_id = d.id
    WHERE d.image_filename != '' GROUP BY b.tier, b.category, d.checkpoint;
CREATE TRIGGER batches_keys_fixed BEFORE UPDATE OF tier, category ON batches
    WHEN OLD.tier != NEW.tier OR OLD.category != NEW.category
    BEGIN SELECT RAISE(ABORT, 'the tier and category of a recorded batch cannot change'); END;
CREATE TRIGGER drafts_checkpoint_fixed BEFORE UPDATE OF checkpoint, batch_id ON drafts
    WHEN OLD.checkpoint != NEW.checkpoint OR OLD.batch_id != NEW.batch_id
    BEGIN SELECT RAISE(ABORT, 'the checkpoint of a recorded draft cannot change'); END;
CREATE TRIGGER drafts_shown_insert AFTER INSERT ON drafts WHEN NEW.image_filename != ''
    BEGIN {_count("NEW.checkpoint", "NEW.batch_id", "1", "0")} END;
CREATE TRIGGER drafts_shown_update AFTER UPDATE OF image_filename ON drafts
    WHEN (OLD.image_filename = '') != (NEW.image_filename = '')
    BEGIN {_count("NEW.checkpoint", "NEW.batch_id", _SIGN,
                  _SIGN + " * COALESCE((SELECT selected FROM picks WHERE draft_id = NEW.id), 0)")} END;
CREATE TRIGGER batches_delete_drafts BEFORE DELETE ON batches
    BEGIN DELETE FROM drafts WHERE batch_id = OLD.id; END;
CREATE TRIGGER drafts_delete_picks BEFORE DELETE ON drafts
    BEGIN DELETE FROM picks WHERE draft_id = OLD.id; END;
CREATE TRIGGER drafts_shown_delete AFTER DELETE ON drafts WHEN OLD.image_filename != ''
    BEGIN {_count("OLD.checkpoint", "OLD.batch_id", "-1", "0")} END;
CREATE TRIGGER picks_insert AFTER INSERT ON picks WHEN NEW.selected = 1 AND {_shown("NEW")}
    BEGIN {_count(_of_pick("checkpoint", "NEW"), _of_pick("batch_id", "NEW"), "0", "1")} END;
CREATE TRIGGER picks_update AFTER UPDATE OF selected ON picks WHEN OLD.selected != NEW.selected AND {_shown("NEW")}
    BEGIN {_count(_of_pick("checkpoint", "NEW"), _of_pick("batch_id", "NEW"), "0", "NEW.selected - OLD.selected")} END;
CREATE TRIGGER picks_delete AFTER DELETE ON picks WHEN OLD.selected = 1 AND {_shown("OLD")}
    BEGIN {_count(_of_pick("checkpoint", "OLD"), _of_pick("batch_id", "OLD"), "0", "-1")} END;
"""),
)


def ensure_schema(db: Database) -> None:
    db.migrate(COMPONENT, MIGRATIONS)


@dataclass(frozen=True)
class ImageRef:
    """Where ComfyUI serves an image: ``/view?filename=&subfolder=&type=``."""

    filename: str
    subfolder: str = ""
    type: str = "output"

    def __post_init__(self) -> None:
        if not self.filename or "/" in self.filename or "\\" in self.filename:
            raise ValueError(f"image filename must be a bare file name, got {self.filename!r}")
        if self.type not in ("output", "temp", "input"):
            raise ValueError(f"image type must be output, temp or input, got {self.type!r}")


@dataclass(frozen=True)
class LoraUse:
    """One LoRA applied to a draft; stored in ``drafts.loras`` as ``{"name", "strength"}``."""

    name: str
    strength: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a LoRA name must be non-empty text, got {self.name!r}")
        if isinstance(self.strength, bool) or not isinstance(self.strength, (int, float)):
            raise ValueError(f"LoRA '{self.name}': strength must be a number, got {self.strength!r}")

    def to_dict(self) -> dict:
        return {"name": self.name, "strength": float(self.strength)}


def loras_json(loras: Sequence[LoraUse]) -> str:
    return json.dumps([lora.to_dict() for lora in loras])


@dataclass(frozen=True)
class DraftPlan:
    """A draft decided before generation: its position in the batch, checkpoint and seed."""

    index: int
    checkpoint: str
    seed: int = 0
    loras: tuple[LoraUse, ...] = ()


@dataclass(frozen=True)
class BatchRecord:
    id: str
    mode: str
    drafts: tuple[DraftPlan, ...]
    prompt: str = ""
    tier: str = ""
    category: str = ""
    created: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 64:
            raise ValueError(f"batch id must be 1-64 characters, got {self.id!r}")
        if self.mode not in MODES:
            raise ValueError(f"batch mode must be one of {MODES}, got {self.mode!r}")
        indexes = [d.index for d in self.drafts]
        if sorted(indexes) != list(range(len(indexes))):
            raise ValueError(f"draft indexes of a batch must be 0..n-1, got {indexes}")


@dataclass(frozen=True)
class DraftImage:
    """A generated draft: its index in the batch, the checkpoint and LoRAs that made it, its image."""

    index: int
    checkpoint: str
    image: ImageRef
    loras: tuple[LoraUse, ...] = ()
    seed: int | None = None


def draft_id(batch_id: str, index: int) -> str:
    """Draft ids are derived, so recording the same draft twice is recognised."""
    return f"{batch_id}-{index}"


def record_batch(db: Database, batch: BatchRecord) -> bool:
    """Record a batch and its planned drafts; True if new, False if the identical batch was recorded."""
    ensure_schema(db)
    with db.transaction() as conn:
        existing = conn.execute("SELECT idx, checkpoint FROM drafts WHERE batch_id = ? ORDER BY idx",
                                (batch.id,)).fetchall()
        if conn.execute("SELECT 1 FROM batches WHERE id = ?", (batch.id,)).fetchone():
            if [(r["idx"], r["checkpoint"]) for r in existing] != [(d.index, d.checkpoint) for d in batch.drafts]:
                raise ValueError(f"batch '{batch.id}' is already recorded with different drafts")
            return False
        conn.execute("INSERT INTO batches(id, prompt, mode, tier, category, created) VALUES (?, ?, ?, ?, ?, ?)",
                     (batch.id, batch.prompt, batch.mode, batch.tier, batch.category, batch.created))
        conn.executemany(
            "INSERT INTO drafts(id, batch_id, idx, checkpoint, loras, seed) VALUES (?, ?, ?, ?, ?, ?)",
            [(draft_id(batch.id, d.index), batch.id, d.index, d.checkpoint, loras_json(d.loras), d.seed)
             for d in batch.drafts])
    return True


def batch_exists(db: Database, batch_id: str) -> bool:
    ensure_schema(db)
    return bool(db.read("SELECT 1 FROM batches WHERE id = ?", (batch_id,)))


def record_images(db: Database, batch_id: str, images: Sequence[DraftImage]) -> list[str]:
    """Attach saved images (and the LoRAs used) to a batch's drafts, creating drafts the plan lacked.

    Refuses, recording nothing: an unknown batch, a checkpoint other than the planned one, a draft that
    already has a different image. Recording the same image again changes nothing.
    """
    ensure_schema(db)
    with db.transaction() as conn:
        if not conn.execute("SELECT 1 FROM batches WHERE id = ?", (batch_id,)).fetchone():
            raise KeyError(f"batch '{batch_id}' is not recorded; connect batch_id from a Checkpoint Explorer node")
        ids = []
        for item in images:
            ids.append(_record_image(conn, batch_id, item))
    return ids


def _record_image(conn, batch_id: str, item: DraftImage) -> str:
    if item.index < 0:
        raise ValueError(f"draft index must be >= 0, got {item.index}")
    key = draft_id(batch_id, item.index)
    row = conn.execute("SELECT checkpoint, image_filename, image_subfolder FROM drafts WHERE id = ?",
                       (key,)).fetchone()
    if row is None:
        conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint, loras, seed, image_filename, "
                     "image_subfolder, image_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (key, batch_id, item.index, item.checkpoint, loras_json(item.loras), item.seed or 0,
                      item.image.filename, item.image.subfolder, item.image.type))
        return key
    if row["checkpoint"] != item.checkpoint:
        raise ValueError(f"draft {item.index} of batch '{batch_id}' was planned for '{row['checkpoint']}', "
                         f"not '{item.checkpoint}'")
    if row["image_filename"] and (row["image_filename"], row["image_subfolder"]) != (item.image.filename,
                                                                                      item.image.subfolder):
        raise ValueError(f"draft {item.index} of batch '{batch_id}' already has image '{row['image_filename']}'; "
                         "queue a new batch instead of re-using its id")
    conn.execute("UPDATE drafts SET image_filename = ?, image_subfolder = ?, image_type = ?, loras = ?, "
                 "seed = COALESCE(?, seed) WHERE id = ?",
                 (item.image.filename, item.image.subfolder, item.image.type, loras_json(item.loras), item.seed, key))
    return key


@dataclass(frozen=True)
class PickResult:
    recorded: int
    changed: int
    checkpoints: tuple[str, ...]


def record_picks(db: Database, draft_ids: Sequence[str], selected: bool, when: float | None = None) -> PickResult:
    """Set the verdict on drafts (idempotent: the same verdict twice changes nothing).

    All or nothing: an unknown draft id (KeyError) or a draft without an image (ValueError) records nothing.
    """
    ensure_schema(db)
    ids = list(dict.fromkeys(draft_ids))
    if not ids or len(ids) > MAX_PICKS_PER_CALL:
        raise ValueError(f"draft_ids must list 1 to {MAX_PICKS_PER_CALL} drafts, got {len(ids)}")
    value, now = int(bool(selected)), time.time() if when is None else when
    with db.transaction() as conn:
        rows = {r["id"]: r for r in _drafts_by_id(conn, ids)}
        unknown = [i for i in ids if i not in rows]
        if unknown:
            raise KeyError(f"unknown draft id(s): {', '.join(unknown[:10])}" + (" ..." if len(unknown) > 10 else ""))
        blank = [i for i in ids if not rows[i]["image_filename"]]
        if blank:
            raise ValueError(f"draft(s) without an image cannot be picked yet: {', '.join(blank[:10])}")
        changed = sum(1 for i in ids if rows[i]["selected"] != value)
        conn.executemany(
            "INSERT INTO picks(draft_id, selected, picked_at) VALUES (?, ?, ?) ON CONFLICT(draft_id) DO UPDATE "
            "SET selected = excluded.selected, picked_at = excluded.picked_at WHERE selected != excluded.selected",
            [(i, value, now) for i in ids])
    return PickResult(len(ids), changed, tuple(sorted({rows[i]["checkpoint"] for i in ids})))


def _drafts_by_id(conn, ids: list[str]) -> list:
    rows = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows += conn.execute(
            f"SELECT d.id, d.checkpoint, d.image_filename, p.selected FROM drafts d "
            f"LEFT JOIN picks p ON p.draft_id = d.id WHERE d.id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
    return rows
