"""Checkpoint Explorer: spread a batch of drafts over a tier's checkpoints, learning from the drafts picked.

Outputs are lists with one item per draft, grouped by checkpoint, so the encode/sample/decode nodes after
it run once per draft and each checkpoint is loaded once. Wire ``seed`` into the sampler so drafts of the
same checkpoint differ, and ``batch_id`` + ``checkpoint_name`` into LoRA Lab Save Drafts so picks are credited.
"""

from __future__ import annotations

import logging

from .spec import MAX_SEED, Input, NodeResult, NodeSpec, Output

log = logging.getLogger("lora_lab")
MODES = {"follow panel": "panel", "explore": "explore", "quick": "quick"}
MAX_COUNT = 256


def _explorer():
    from ..bridge.services import shared_lab

    return shared_lab().explorer


def _tier_choices() -> list[str]:
    from ..engines.explorer import PoolError

    try:
        return list(_explorer().tiers())
    except (PoolError, OSError) as exc:
        log.warning("LoRA Lab: cannot read the checkpoint pools: %s", exc)
        return []


SPEC = NodeSpec(
    node_id="LoRALabCheckpointExplorer",
    display_name="Checkpoint Explorer",
    description="Load the checkpoints of a tier and hand out a batch of drafts: Explore spreads them over 2-3 "
                "checkpoints (more to the ones whose drafts you pick), Quick uses the single best. Picks made in "
                "the LoRA Lab panel (or POST /lora_lab/picks) teach it.",
    inputs=(
        Input("tier", "COMBO", "Which pool of checkpoints to explore (edit pools in "
                               "<user dir>/lora_lab/checkpoint_pools.json or with PUT /lora_lab/pools; the "
                               "LoRA Lab panel shows that file's path).", options=_tier_choices),
        Input("mode", "COMBO", "explore: spread the batch over 2-3 checkpoints; quick: all drafts on the best "
                               "one; follow panel: whatever the LoRA Lab panel is set to.",
              default="follow panel", options=tuple(MODES)),
        Input("count", "INT", "How many drafts to make (each downstream node runs once per draft).",
              default=6, min=1, max=MAX_COUNT, step=1),
        Input("seed", "INT", "Seed of the allocation (same seed and same history: same plan) and of the drafts "
                             "(draft i gets seed + i).", default=0, min=0, max=MAX_SEED,
              control_after_generate=True),
        Input("prompt", "STRING", "The prompt of this batch: recorded with it (what LoRA discovery learns from) "
                                  "and passed on to the prompt output.", default="", multiline=True),
    ),
    outputs=(
        Output("MODEL", "MODEL", "One diffusion model per draft (the same object for drafts of one checkpoint).",
               is_list=True),
        Output("CLIP", "CLIP", "One text encoder per draft.", is_list=True),
        Output("VAE", "VAE", "One VAE per draft.", is_list=True),
        Output("checkpoint_name", "STRING", "The checkpoint of each draft.", is_list=True),
        Output("batch_id", "STRING", "The recorded batch; connect it to LoRA Lab Save Drafts."),
        Output("seed", "INT", "One seed per draft (seed + draft index); connect it to the sampler's seed.",
               is_list=True),
        Output("prompt", "STRING", "The prompt input, for the text encoder."),
        Output("draft", "LORA_LAB_DRAFT", "One handle per draft (batch, index, checkpoint group): connect it to "
                                          "Auto LoRA Discover's 'draft' so each checkpoint group gets its own LoRA "
                                          "combination.", is_list=True),
    ),
)


def validate_inputs(tier=None, mode=None, count=None) -> bool | str:
    """Queue-time checks, so a bad count or an unusable tier is reported before anything runs."""
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT):
        return f"count must be from 1 to {MAX_COUNT}, got {count!r}"
    if mode is not None and mode not in MODES:
        return f"mode must be one of {list(MODES)}, got {mode!r}"
    if tier is None or mode is None:
        return True
    from ..engines.explorer.planner import usable_checkpoints

    explorer = _explorer()
    try:
        resolved = explorer.tier(tier)
        usable_checkpoints(resolved, explorer.settings().mode if MODES[mode] == "panel" else MODES[mode])
    except (KeyError, ValueError) as exc:
        return str(exc.args[0] if exc.args else exc)
    return True


def fingerprint_inputs(**_: object) -> float:
    """Every queue is a new batch (and the learned statistics may have changed): never reuse a cached result."""
    return float("nan")


def execute(tier: str, mode: str, count: int, seed: int, prompt: str) -> NodeResult:
    from ..bridge import checkpoints
    from ..engines.explorer import PlanRequest
    from ..engines.explorer.draft_flow import draft_handles, explore_text

    explorer = _explorer()
    plan = explorer.plan(PlanRequest(tier, count, MODES[mode], seed, prompt), record=False)
    loaded, from_disk = checkpoints.load_checkpoints(list(plan.distribution))
    explorer.record(plan)
    triples = [loaded[draft.checkpoint] for draft in plan.drafts]
    return NodeResult((
        [t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples], [d.checkpoint for d in plan.drafts],
        plan.batch_id, [d.seed for d in plan.drafts], prompt, draft_handles(plan),
    ), ui={"text": [explore_text(plan, len(loaded), from_disk)]})
