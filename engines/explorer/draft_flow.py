"""The Draft flow over the store: per-group LoRA combinations of a batch, recorded once, and per-LoRA stats.

A batch's combinations are decided the first time any of its drafts asks (the Auto LoRA Discover node runs
once per draft; ``POST /lora_lab/batches`` with ``auto_lora`` asks for all of them before queueing) and
are recorded in ``draft_group_loras``, so every draft of a group gets the same LoRAs however often or in
whatever order it asks, and a later look-up shows what each group got. The learning reads the reviewed
batches of the tier: each shown draft's checkpoint, the LoRAs it was saved with, and its pick.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..store import Database, Migration
from ..store import generations
from ..store.generations import LoraUse
from .config import PolicyConfig
from .draft_groups import DraftOutcome, assign, combo_of, group_index, groups_of, lora_key, options_for, table_from

COMPONENT = "draft_groups"
MIGRATIONS = (Migration(1, """
CREATE TABLE draft_group_loras (
    batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    grp INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    loras TEXT NOT NULL,
    PRIMARY KEY (batch_id, grp)
);"""),)
NO_LORA_LABEL = "(no LoRA)"

_REVIEWED_DRAFTS = """
WITH reviewed AS (
    SELECT b.id, b.created FROM batches b WHERE b.tier = ?
      AND EXISTS (SELECT 1 FROM drafts d JOIN picks p ON p.draft_id = d.id WHERE d.batch_id = b.id)
    ORDER BY b.created DESC, b.id DESC LIMIT ?)
SELECT r.id AS batch, d.checkpoint, d.loras, COALESCE(p.selected, 0) AS selected
FROM reviewed r JOIN drafts d ON d.batch_id = r.id LEFT JOIN picks p ON p.draft_id = d.id
WHERE d.image_filename != '' ORDER BY r.created, r.id, d.idx"""


@dataclass(frozen=True)
class GroupLoras:
    """One checkpoint group of a batch and the LoRAs its drafts get (empty: the no-LoRA control)."""

    group: int
    checkpoint: str
    drafts: int
    loras: tuple[LoraUse, ...]

    def to_dict(self) -> dict:
        return {"group": self.group, "checkpoint": self.checkpoint, "drafts": self.drafts,
                "loras": [lora.to_dict() for lora in self.loras]}


def ensure_schema(db: Database) -> None:
    generations.ensure_schema(db)
    db.migrate(COMPONENT, MIGRATIONS)


def _names(raw: str) -> list[str]:
    try:
        items = json.loads(raw or "[]")
    except json.JSONDecodeError:
        return []
    return [i["name"] for i in items if isinstance(i, dict) and isinstance(i.get("name"), str)]


def reviewed_history(db: Database, tier: str, window: int) -> list[list[DraftOutcome]]:
    """The tier's last ``window`` reviewed batches (oldest first) as shown drafts with their picks."""
    ensure_schema(db)
    batches: dict[str, list[DraftOutcome]] = {}
    for row in db.read(_REVIEWED_DRAFTS, (tier, window)):
        batches.setdefault(row["batch"], []).append(
            DraftOutcome(row["checkpoint"], combo_of(_names(row["loras"])), bool(row["selected"])))
    return list(batches.values())


def _batch_seed(batch_id: str) -> int:
    return int.from_bytes(hashlib.sha256(batch_id.encode()).digest()[:8], "little")


def choose_group_loras(db: Database, tier: str, batch_id: str, checkpoints: Sequence[str],
                       candidates: Sequence[LoraUse], config: PolicyConfig = PolicyConfig()) -> list[GroupLoras]:
    """Decide each group's combination from the candidates (relevance order) and what the tier learned."""
    groups = groups_of(checkpoints)
    strengths = {lora_key(c.name): c for c in candidates}
    table = table_from(reviewed_history(db, tier, config.history_window), config.discount)
    combos = assign(groups, options_for([c.name for c in candidates]), table,
                    np.random.default_rng(_batch_seed(batch_id)))
    return [GroupLoras(i, name, size, tuple(strengths[key] for key in combo))
            for i, ((name, size), combo) in enumerate(zip(groups, combos))]


def record_group_loras(db: Database, batch_id: str, groups: Sequence[GroupLoras]) -> list[GroupLoras]:
    """Record the groups unless the batch already has some; return what is recorded (first writer wins)."""
    ensure_schema(db)
    with db.transaction() as conn:
        conn.executemany("INSERT OR IGNORE INTO draft_group_loras(batch_id, grp, checkpoint, loras) VALUES (?,?,?,?)",
                         [(batch_id, g.group, g.checkpoint, generations.loras_json(g.loras)) for g in groups])
    return recorded_groups(db, batch_id)


def recorded_groups(db: Database, batch_id: str) -> list[GroupLoras]:
    ensure_schema(db)
    sizes = {}
    for row in db.read("SELECT checkpoint, COUNT(*) AS n FROM drafts WHERE batch_id = ? GROUP BY checkpoint",
                       (batch_id,)):
        sizes[row["checkpoint"]] = int(row["n"])
    rows = db.read("SELECT grp, checkpoint, loras FROM draft_group_loras WHERE batch_id = ? ORDER BY grp",
                   (batch_id,))
    return [GroupLoras(r["grp"], r["checkpoint"], sizes.get(r["checkpoint"], 0),
                       tuple(LoraUse(i["name"], float(i["strength"])) for i in json.loads(r["loras"])))
            for r in rows]


def batch_checkpoints(db: Database, batch_id: str) -> tuple[str, list[str]]:
    """The tier and the drafts' checkpoints (index order) of a recorded batch; KeyError when unknown."""
    ensure_schema(db)
    batch = db.read("SELECT tier FROM batches WHERE id = ?", (batch_id,))
    if not batch:
        raise KeyError(f"batch '{batch_id}' is not recorded; connect 'draft' from a Checkpoint Explorer node")
    rows = db.read("SELECT checkpoint FROM drafts WHERE batch_id = ? ORDER BY idx", (batch_id,))
    return batch[0]["tier"], [r["checkpoint"] for r in rows]


def loras_for_draft(db: Database, batch_id: str, index: int, candidates: Sequence[LoraUse],
                    config: PolicyConfig = PolicyConfig()) -> GroupLoras:
    """The group of draft ``index`` and its LoRAs, deciding (and recording) the batch's groups on first use."""
    tier, checkpoints = batch_checkpoints(db, batch_id)
    group = group_index(checkpoints, index)
    recorded = recorded_groups(db, batch_id)
    if not recorded:
        recorded = record_group_loras(db, batch_id,
                                      choose_group_loras(db, tier, batch_id, checkpoints, candidates, config))
    return recorded[group]


def lora_stats(db: Database, tier: str | None = None) -> dict[str, dict]:
    """``{lora: {selected, total, selection_rate}}`` over shown drafts (a draft counts for each of its LoRAs;
    drafts without any count as ``(no LoRA)``): picked per draft shown, so exposure does not inflate a LoRA."""
    ensure_schema(db)
    sql = ("SELECT d.loras, COALESCE(p.selected, 0) AS selected FROM drafts d JOIN batches b ON b.id = d.batch_id "
           "LEFT JOIN picks p ON p.draft_id = d.id WHERE d.image_filename != ''" + (" AND b.tier = ?" if tier else ""))
    counts: dict[str, list[int]] = {}
    for row in db.read(sql, (tier,) if tier else ()):
        for name in dict.fromkeys(_names(row["loras"])) or [NO_LORA_LABEL]:
            pair = counts.setdefault(name, [0, 0])
            pair[0] += 1
            pair[1] += int(row["selected"])
    return {name: {"selected": picked, "total": shown, "selection_rate": round(picked / shown, 4)}
            for name, (shown, picked) in sorted(counts.items())}


def draft_handles(plan) -> list[dict]:
    """What Checkpoint Explorer hands Auto LoRA Discover per draft (its ``draft`` output)."""
    groups = [name for name, _ in groups_of([d.checkpoint for d in plan.drafts])]
    return [{"batch_id": plan.batch_id, "index": d.index, "checkpoint": d.checkpoint,
             "group": groups.index(d.checkpoint)} for d in plan.drafts]


def explore_text(plan, checkpoints: int, from_disk: int) -> str:
    """Checkpoint Explorer's text under the node: the batch, its spread, what was loaded."""
    summary = ", ".join(f"{n} x {name}" for name, n in plan.distribution.items())
    text = (f"batch {plan.batch_id} ({plan.mode}, tier {plan.tier}): {summary}\n"
            f"checkpoints: {from_disk} loaded from disk, {checkpoints - from_disk} reused")
    if plan.missing:
        text += f"\nnot installed (skipped): {', '.join(plan.missing)}"
    return text


def plan_with_loras(explorer, request, candidates: Callable[[], Sequence[LoraUse]] | None) -> dict:
    """Plan a batch (the explorer policy) and, when ``candidates`` is given (Auto-LoRA on), give each checkpoint
    group its combination of them; drafts and groups are recorded together. The seed's batch response."""
    plan = explorer.plan(request, record=False)
    groups: list[GroupLoras] = []
    if candidates is not None:
        checkpoints = [d.checkpoint for d in plan.drafts]
        groups = choose_group_loras(explorer.db, plan.tier, plan.batch_id, checkpoints, list(candidates()),
                                    explorer.config)
        by_checkpoint = {g.checkpoint: g.loras for g in groups}
        plan = replace(plan, drafts=tuple(replace(d, loras=by_checkpoint[d.checkpoint]) for d in plan.drafts))
    explorer.record(plan)
    if groups:
        record_group_loras(explorer.db, plan.batch_id, groups)
    body = plan.to_dict()
    body["auto_lora"] = candidates is not None
    body["groups"] = [g.to_dict() for g in groups]
    return body
