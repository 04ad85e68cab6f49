"""CheckpointExplorer: learn which checkpoints a user prefers from the drafts they pick.

- :mod:`.arms` / :mod:`.policy`: exposure-normalised, discounted Thompson sampling (Explore) and the
  posterior-mean best (Quick), deterministic given a seed.
- :mod:`.planner`: plan a batch from the store's history and record it.
- :mod:`.pools` / :mod:`.settings`: the tiers' checkpoint lists (a JSON file) and the panel's toggles.
- :mod:`.api_prompt` / :mod:`.lora_choice`: build queued prompts from an API-format template, with LoRA chains.
- :mod:`.service`: the use cases the node, the routes and the CLI share.
"""

from .config import PolicyConfig
from .planner import BatchPlan, PlanRequest
from .pools import PoolError, ResolvedTier, TierPool
from .service import Explorer
from .settings import PanelSettings

__all__ = ["BatchPlan", "Explorer", "PanelSettings", "PlanRequest", "PolicyConfig", "PoolError", "ResolvedTier",
           "TierPool"]
