"""Helpers for the CheckpointExplorer tests: stores with recorded batches, and counts recomputed from rows."""

from __future__ import annotations

from comfyui_lora_lab.engines.store import Database
from comfyui_lora_lab.engines.store import generations as g


def record_shown_batch(db: Database, batch_id: str, checkpoints: list[str], tier: str = "t", category: str = "",
                       mode: str = "explore", created: float | None = None) -> list[str]:
    """A batch whose drafts (one per entry of ``checkpoints``) all have images; returns the draft ids."""
    extra = {} if created is None else {"created": created}
    drafts = tuple(g.DraftPlan(i, name, seed=i) for i, name in enumerate(checkpoints))
    g.record_batch(db, g.BatchRecord(batch_id, mode, drafts, "a prompt", tier, category, **extra))
    return g.record_images(db, batch_id, [g.DraftImage(i, name, g.ImageRef(f"{batch_id}_{i}.png"))
                                          for i, name in enumerate(checkpoints)])


def recount(db: Database) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(tier, category, checkpoint) -> (shown, selected) computed from the rows, ignoring the aggregate."""
    rows = db.read("SELECT b.tier, b.category, d.checkpoint, COUNT(*) AS shown, COALESCE(SUM(p.selected), 0) AS sel "
                   "FROM drafts d JOIN batches b ON b.id = d.batch_id LEFT JOIN picks p ON p.draft_id = d.id "
                   "WHERE d.image_filename != '' GROUP BY b.tier, b.category, d.checkpoint")
    return {(r["tier"], r["category"], r["checkpoint"]): (r["shown"], r["sel"]) for r in rows}


def aggregate(db: Database) -> dict[tuple[str, str, str], tuple[int, int]]:
    rows = db.read("SELECT * FROM checkpoint_counts WHERE shown > 0 OR selected > 0")
    return {(r["tier"], r["category"], r["checkpoint"]): (r["shown"], r["selected"]) for r in rows}
