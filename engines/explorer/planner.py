"""Plan a batch: which checkpoint draws each draft, from the tier's history in the store, recorded at once.

The node, the ``POST /lora_lab/batches`` route and ``lora-lab queue`` all call :func:`plan_batch`, so a
batch is planned the same way however it is queued. Drafts come grouped by checkpoint (each model loads
once) and carry their own seeds (``seed + index``), so drafts of one checkpoint differ.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..store import Database
from ..store import generation_queries as queries
from ..store import generations
from . import policy
from .arms import ArmTable, BatchOutcome
from .categories import prompt_category
from .config import MODES, PolicyConfig
from .pools import ResolvedTier
from .settings import PanelSettings

FOLLOW_PANEL = "panel"
MAX_COUNT = 256
MAX_PROMPT_CHARS = 20_000
SEED_MODULUS = 2 ** 64
DEFAULT_CONFIG = PolicyConfig()


@dataclass(frozen=True)
class PlanRequest:
    """What to queue: ``mode`` is explore, quick or panel (the panel's current setting)."""

    tier: str
    count: int
    mode: str = FOLLOW_PANEL
    seed: int = 0
    prompt: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"count must be an integer from 1 to {MAX_COUNT}, got {self.count!r}")
        if self.mode not in (*MODES, FOLLOW_PANEL):
            raise ValueError(f"mode must be one of {[*MODES, FOLLOW_PANEL]}, got {self.mode!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < SEED_MODULUS:
            raise ValueError(f"seed must be an integer from 0 to 2**64-1, got {self.seed!r}")
        if not isinstance(self.prompt, str) or len(self.prompt) > MAX_PROMPT_CHARS:
            raise ValueError(f"prompt must be text of at most {MAX_PROMPT_CHARS} characters")


@dataclass(frozen=True)
class BatchPlan:
    batch_id: str
    mode: str
    tier: str
    category: str
    drafts: tuple[generations.DraftPlan, ...]
    distribution: dict[str, int]
    reasons: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    prompt: str = ""

    def to_dict(self) -> dict:
        return {
            "batch_id": self.batch_id, "total_count": len(self.drafts), "distribution": self.distribution,
            "mode": self.mode, "tier": self.tier, "category": self.category, "reasons": self.reasons,
            "missing_checkpoints": list(self.missing),
            "drafts": [{"id": generations.draft_id(self.batch_id, d.index), "index": d.index,
                        "checkpoint": d.checkpoint, "seed": d.seed, "loras": [lora.to_dict() for lora in d.loras]}
                       for d in self.drafts],
        }


def usable_checkpoints(tier: ResolvedTier, mode: str) -> tuple[str, ...]:
    """The tier's installed checkpoints, or a message naming what is missing when the mode cannot run."""
    need = 2 if mode == "explore" else 1
    if len(tier.installed) < need:
        missing = f"; not installed: {', '.join(tier.missing)}" if tier.missing else ""
        raise ValueError(f"tier '{tier.name}' has {len(tier.installed)} installed checkpoint(s) "
                         f"({', '.join(tier.installed) or 'none'}); {mode} needs at least {need}{missing}")
    return tier.installed


def arm_table(db: Database, tier: str, names: Sequence[str], config: PolicyConfig, category: str = "",
              context: bool = False) -> ArmTable:
    """The tier's evidence; with ``context``, the category's own evidence plus a capped share of the tier's."""
    exposures = {k: v.total for k, v in queries.checkpoint_counts(db, tier=tier).items()}
    whole = _replay(db, tier, names, config, None, exposures)
    if not (context and category):
        return whole
    own = _replay(db, tier, names, config, category, exposures)
    return own.blended(whole, config.context_prior_drafts)


def _replay(db, tier, names, config, category, exposures) -> ArmTable:
    history = queries.tier_history(db, tier, config.history_window, category)
    outcomes = [BatchOutcome(b.planned, b.shown, b.selected, b.reviewed) for b in history]
    return ArmTable.replay(names, outcomes, config.discount, exposures)


def allocate(table: ArmTable, mode: str, count: int, default: str, config: PolicyConfig) -> policy.Allocation:
    if mode == "quick":
        return policy.quick(table, count, config, table.index(default))
    return policy.explore(table, count, config)


def grouped_drafts(names: Sequence[str], counts: Sequence[int], seed: int) -> tuple[generations.DraftPlan, ...]:
    """Drafts grouped by checkpoint, the largest group first (ties in pool order)."""
    order = sorted((i for i in range(len(names)) if counts[i] > 0), key=lambda i: (-counts[i], i))
    arms = [i for i in order for _ in range(counts[i])]
    return tuple(generations.DraftPlan(index, names[arm], (seed + index) % SEED_MODULUS)
                 for index, arm in enumerate(arms))


def plan_batch(db: Database, tier: ResolvedTier, request: PlanRequest, settings: PanelSettings,
               config: PolicyConfig = DEFAULT_CONFIG, record: bool = True) -> BatchPlan:
    """Plan one batch and (unless ``record`` is False) record it; nothing is recorded on bad input."""
    mode = settings.mode if request.mode == FOLLOW_PANEL else request.mode
    names = usable_checkpoints(tier, mode)
    category = prompt_category(request.prompt)
    table = arm_table(db, tier.name, names, config, category, settings.prompt_categories)
    chosen = allocate(table, mode, request.count, tier.default or names[0], config)
    drafts = grouped_drafts(names, chosen.counts, request.seed)
    distribution: dict[str, int] = {}
    for draft in drafts:
        distribution[draft.checkpoint] = distribution.get(draft.checkpoint, 0) + 1
    reasons = {names[i]: r for i, r in enumerate(chosen.reasons) if r}
    plan = BatchPlan(uuid.uuid4().hex, mode, tier.name, category, drafts, distribution, reasons, tier.missing,
                     request.prompt)
    if record:
        record_plan(db, plan)
    return plan


def record_plan(db: Database, plan: BatchPlan) -> None:
    generations.record_batch(db, generations.BatchRecord(plan.batch_id, plan.mode, plan.drafts, plan.prompt,
                                                         plan.tier, plan.category))
