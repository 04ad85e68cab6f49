"""Demo step: a simulated user picks drafts for 60 batches; the explorer learns their favourite checkpoint.

Runs the same service the node and routes use (store, pools file, policy) on a throw-away store in the
demo folder, with three made-up checkpoint names; no ComfyUI and no images are needed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CHECKPOINTS = ["dreamy_v1.safetensors", "photoreal_v2.safetensors", "anime_v3.safetensors"]
TASTE = {"dreamy_v1.safetensors": 0.0, "photoreal_v2.safetensors": 1.2, "anime_v3.safetensors": -0.6}


def _review(explorer, plan, rng) -> None:
    """Save every draft (a fake image name) and pick one, Plackett-Luce on the user's hidden taste."""
    import numpy as np

    from ..engines.store.generations import DraftImage, ImageRef

    images = [DraftImage(d.index, d.checkpoint, ImageRef(f"{plan.batch_id}_{d.index}.png")) for d in plan.drafts]
    ids = explorer.record_images(plan.batch_id, images)
    weights = np.array([np.exp(TASTE[d.checkpoint]) for d in plan.drafts])
    explorer.pick([ids[int(rng.choice(len(ids), p=weights / weights.sum()))]], True)


def run(workdir: Path) -> dict:
    import numpy as np

    from ..engines.explorer import Explorer, PlanRequest
    from ..engines.store import Database

    folder = Path(workdir) / "explorer"
    shutil.rmtree(folder, ignore_errors=True)
    explorer = Explorer(Database(folder / "lora_lab.sqlite"), folder / "checkpoint_pools.json", lambda: CHECKPOINTS)
    explorer.set_pools({"tiers": {"demo": {"checkpoints": CHECKPOINTS}}})
    rng, plans = np.random.default_rng(0), []
    for batch in range(60):
        plans.append(explorer.plan(PlanRequest("demo", 6, "explore", seed=batch, prompt="a lighthouse at dusk")))
        _review(explorer, plans[-1], rng)
    explorer.update_settings({"mode": "quick"})
    quick = explorer.plan(PlanRequest("demo", 6, "panel", seed=99))
    return {
        "first_batch": plans[0].distribution,
        "last_explore_batch": plans[-1].distribution,
        "quick_batch": quick.distribution,
        "quick_reason": quick.reasons,
        "stats": explorer.stats("demo"),
        "user_favourite": max(TASTE, key=TASTE.get),
    }
