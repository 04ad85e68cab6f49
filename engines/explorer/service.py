"""CheckpointExplorer's use cases over one store and one pools file: what the node, the routes and the CLI call.

One object per process (``Lab.explorer``), cheap to call from any thread: every call reads what it
needs (pools file, installed checkpoints, store) at that moment, so an edit in the panel or in the file
takes effect on the next batch without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..store import Database
from ..store import generation_queries as queries
from ..store import generations
from .config import PolicyConfig
from .draft_flow import lora_stats
from .planner import DEFAULT_CONFIG, BatchPlan, PlanRequest, plan_batch, record_plan
from .pools import ResolvedTier, TierPool, check_saveable, load_pools, parse_pools, resolve, save_pools
from .settings import PanelSettings, load_settings, save_settings

MAX_RECENT = 100


class Explorer:
    def __init__(self, db: Database, pools_path: Path, installed: Callable[[], Sequence[str]],
                 config: PolicyConfig = DEFAULT_CONFIG) -> None:
        self.db, self.pools_path, self.installed, self.config = db, Path(pools_path), installed, config
        self._pools: tuple[tuple, dict[str, TierPool]] | None = None

    # pools -----------------------------------------------------------------------------------------------
    def pools(self) -> dict[str, TierPool]:
        """The pools file, parsed again only when it changed (size, mtime, inode), so the stats route stays cheap."""
        try:
            info = self.pools_path.stat()
            key = (info.st_size, info.st_mtime_ns, info.st_ino)
        except FileNotFoundError:
            key = None
        cached = self._pools
        if key is None or cached is None or cached[0] != key:
            pools = load_pools(self.pools_path)
            info = self.pools_path.stat()
            self._pools = cached = ((info.st_size, info.st_mtime_ns, info.st_ino), pools)
        return cached[1]

    def tiers(self) -> dict[str, ResolvedTier]:
        return resolve(self.pools(), list(self.installed()))

    def tier(self, name: str) -> ResolvedTier:
        tiers = self.tiers()
        if name not in tiers:
            raise KeyError(f"unknown tier '{name}'; tiers in {self.pools_path.name}: {', '.join(tiers) or 'none'}")
        return tiers[name]

    def pools_view(self) -> dict:
        installed = sorted(self.installed())
        return {"file": str(self.pools_path), "installed_checkpoints": installed,
                "tiers": {name: tier.to_dict() for name, tier in resolve(self.pools(), installed).items()}}

    def set_pools(self, body: Mapping) -> dict:
        """Replace the pools (validated against what is installed) and return the new view."""
        pools = parse_pools(body, "request body")
        check_saveable(pools, list(self.installed()))
        save_pools(self.pools_path, pools)
        return self.pools_view()

    # settings --------------------------------------------------------------------------------------------
    def settings(self) -> PanelSettings:
        return load_settings(self.db)

    def update_settings(self, changes: Mapping[str, object]) -> PanelSettings:
        return save_settings(self.db, self.settings().updated(changes))

    # batches ---------------------------------------------------------------------------------------------
    def plan(self, request: PlanRequest, record: bool = True) -> BatchPlan:
        """Plan a batch; recorded at once unless ``record`` is False (then call :meth:`record`)."""
        return plan_batch(self.db, self.tier(request.tier), request, self.settings(), self.config, record)

    def record(self, plan: BatchPlan) -> None:
        record_plan(self.db, plan)

    def require_batch(self, batch_id: str) -> None:
        """KeyError unless the batch is recorded (checked before a node writes any file)."""
        if not generations.batch_exists(self.db, batch_id):
            raise KeyError(f"batch '{batch_id}' is not recorded; connect batch_id from a Checkpoint Explorer node")

    def record_images(self, batch_id: str, images: Sequence[generations.DraftImage]) -> list[str]:
        return generations.record_images(self.db, batch_id, images)

    def recent(self, limit: int = 20, before: float | None = None) -> list[dict]:
        if not 1 <= limit <= MAX_RECENT:
            raise ValueError(f"limit must be from 1 to {MAX_RECENT}, got {limit}")
        return [_batch_dict(b) for b in queries.recent_batches(self.db, limit, before)]

    # picks and stats -------------------------------------------------------------------------------------
    def pick(self, draft_ids: Sequence[str], selected: bool) -> dict:
        result = generations.record_picks(self.db, draft_ids, selected)
        stats = self.stats()
        return {"recorded": result.recorded, "changed": result.changed,
                "stats": {name: stats[name] for name in result.checkpoints if name in stats}}

    def stats(self, tier: str | None = None) -> dict[str, dict]:
        """``{checkpoint: {selected, total, selection_rate}}``: every checkpoint with drafts, plus the
        installed members of the pools (or of ``tier``) with zeros."""
        counts = queries.checkpoint_counts(self.db, tier=tier)
        if tier is None:
            names = {c for t in self.tiers().values() for c in t.installed}
        else:
            names = set(self.tier(tier).installed)
        for name in names - set(counts):
            counts[name] = queries.CheckpointCount(0, 0)
        return {name: counts[name].to_dict() for name in sorted(counts)}

    def lora_stats(self, tier: str | None = None) -> dict[str, dict]:
        """``{lora: {selected, total, selection_rate}}``: picks per draft shown with that LoRA (see draft_flow)."""
        return lora_stats(self.db, tier)


def draft_label(checkpoint: str, loras: Sequence[Mapping]) -> str:
    """What a draft card shows: the checkpoint's file stem and each LoRA with its strength."""
    stem = Path(checkpoint).stem
    parts = [f"{Path(str(lora.get('name', ''))).stem} {float(lora.get('strength', 0)):g}" for lora in loras]
    return " + ".join([stem, *parts])


def _batch_dict(batch: queries.BatchView) -> dict:
    return {
        "id": batch.id, "prompt": batch.prompt, "mode": batch.mode, "tier": batch.tier,
        "category": batch.category, "created": batch.created,
        "drafts": [{"id": d.id, "index": d.index, "checkpoint": d.checkpoint, "loras": d.loras, "seed": d.seed,
                    "image": d.image, "selected": d.selected, "label": draft_label(d.checkpoint, d.loras)}
                   for d in batch.drafts],
    }
