"""Reads over the generations schema: stats per checkpoint, per-batch outcomes of a tier, recent batches.

Stats come from the ``checkpoint_counts`` aggregate (one row per tier/category/checkpoint), so they cost
the same for ten drafts or a million. The per-batch history is what the explorer policy replays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .database import Database
from .generations import ensure_schema


@dataclass(frozen=True)
class CheckpointCount:
    """Drafts of a checkpoint that were shown (saved with an image) and how many the user selected."""

    selected: int
    total: int

    @property
    def selection_rate(self) -> float:
        """``selected / total`` rounded to 4 decimals; 0.0 when nothing was shown."""
        return round(self.selected / self.total, 4) if self.total else 0.0

    def to_dict(self) -> dict:
        return {"selected": self.selected, "total": self.total, "selection_rate": self.selection_rate}


def checkpoint_counts(db: Database, tier: str | None = None,
                      category: str | None = None) -> dict[str, CheckpointCount]:
    """{checkpoint: counts} over all tiers (or one tier / one prompt category)."""
    ensure_schema(db)
    where, params = [], []
    for column, value in (("tier", tier), ("category", category)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    rows = db.read("SELECT checkpoint, SUM(selected) AS selected, SUM(shown) AS shown FROM checkpoint_counts "
                   + ("WHERE " + " AND ".join(where) if where else "") + " GROUP BY checkpoint", params)
    return {r["checkpoint"]: CheckpointCount(int(r["selected"]), int(r["shown"])) for r in rows}


@dataclass
class BatchCounts:
    """One batch of a tier: drafts planned, shown and selected per checkpoint, and whether it was reviewed."""

    batch_id: str
    created: float
    mode: str
    reviewed: bool
    planned: dict[str, int]
    shown: dict[str, int]
    selected: dict[str, int]


_HISTORY = """
WITH recent AS (
    SELECT id, created, mode FROM batches WHERE tier = ? {category}
    ORDER BY created DESC, id DESC LIMIT ?)
SELECT r.id, r.created, r.mode, d.checkpoint, COUNT(*) AS planned,
       SUM(d.image_filename != '') AS shown, COALESCE(SUM(p.selected), 0) AS selected,
       COUNT(p.draft_id) AS verdicts
FROM recent r JOIN drafts d ON d.batch_id = r.id LEFT JOIN picks p ON p.draft_id = d.id
GROUP BY r.id, d.checkpoint ORDER BY r.created, r.id"""


def tier_history(db: Database, tier: str, limit: int, category: str | None = None) -> list[BatchCounts]:
    """The last ``limit`` batches of a tier (optionally of one prompt category), oldest first."""
    ensure_schema(db)
    sql = _HISTORY.format(category="AND category = ?" if category is not None else "")
    params = [tier] + ([category] if category is not None else []) + [limit]
    batches: dict[str, BatchCounts] = {}
    for r in db.read(sql, params):
        batch = batches.get(r["id"])
        if batch is None:
            batch = batches[r["id"]] = BatchCounts(r["id"], r["created"], r["mode"], False, {}, {}, {})
        batch.planned[r["checkpoint"]] = int(r["planned"])
        batch.shown[r["checkpoint"]] = int(r["shown"])
        batch.selected[r["checkpoint"]] = int(r["selected"])
        batch.reviewed = batch.reviewed or bool(r["verdicts"])
    return list(batches.values())


@dataclass(frozen=True)
class DraftView:
    id: str
    index: int
    checkpoint: str
    loras: list[dict]
    seed: int
    image: dict | None
    selected: bool | None


@dataclass(frozen=True)
class BatchView:
    id: str
    prompt: str
    mode: str
    tier: str
    category: str
    created: float
    drafts: list[DraftView]


def recent_batches(db: Database, limit: int = 20, before: float | None = None) -> list[BatchView]:
    """The newest batches (created before ``before`` when given), newest first, with their drafts."""
    ensure_schema(db)
    heads = db.read("SELECT id, prompt, mode, tier, category, created FROM batches "
                    + ("WHERE created < ? " if before is not None else "") + "ORDER BY created DESC, id DESC LIMIT ?",
                    ([before] if before is not None else []) + [limit])
    if not heads:
        return []
    ids = [h["id"] for h in heads]
    rows = db.read("SELECT d.*, p.selected FROM drafts d LEFT JOIN picks p ON p.draft_id = d.id "
                   f"WHERE d.batch_id IN ({','.join('?' * len(ids))}) ORDER BY d.batch_id, d.idx", ids)
    drafts: dict[str, list[DraftView]] = {i: [] for i in ids}
    for r in rows:
        image = ({"filename": r["image_filename"], "subfolder": r["image_subfolder"], "type": r["image_type"]}
                 if r["image_filename"] else None)
        selected = None if r["selected"] is None else bool(r["selected"])
        drafts[r["batch_id"]].append(DraftView(r["id"], r["idx"], r["checkpoint"], json.loads(r["loras"]),
                                               r["seed"], image, selected))
    return [BatchView(h["id"], h["prompt"], h["mode"], h["tier"], h["category"], h["created"], drafts[h["id"]])
            for h in heads]
