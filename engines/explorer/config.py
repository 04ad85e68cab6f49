"""The explorer policy's knobs, as one validating dataclass (the defaults are the ones the benchmark measured)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

MODES = ("explore", "quick")


@dataclass(frozen=True)
class PolicyConfig:
    """How CheckpointExplorer learns from picks and spreads a batch. Every field is checked on creation."""

    discount: float = field(default=0.995, metadata={
        "help": "Weight kept by older evidence per reviewed batch (1.0 = never forget). Lower follows a change "
                "of taste faster but keeps exploring longer."})
    min_exposures: int = field(default=8, metadata={
        "help": "Drafts an arm must have been shown before Quick mode trusts the statistics and before the "
                "exploration floor stops protecting it."})
    floor_period: int = field(default=5, metadata={
        "help": "Explore mode shows every under-exposed arm at least once per this many batches."})
    min_arms: int = field(default=2, metadata={"help": "Fewest checkpoints an Explore batch is spread over."})
    max_arms: int = field(default=3, metadata={"help": "Most checkpoints an Explore batch is spread over."})
    prior_strength: float = field(default=8.0, metadata={
        "help": "Weight, in drafts, of each arm's Beta prior. The prior is centred on the tier's overall pick rate, "
                "so an arm with little (or long-forgotten) evidence looks average, not excellent."})
    context_prior_drafts: float = field(default=20.0, metadata={
        "help": "With prompt categories on, the tier-wide evidence is added to a category's own evidence "
                "scaled down to at most this many drafts shown, so a new category starts from what the tier "
                "knows but its own picks soon dominate."})

    def __post_init__(self) -> None:
        checks = (
            ("discount", 0.5 <= self.discount <= 1.0, "in [0.5, 1]"),
            ("min_exposures", self.min_exposures >= 1, "at least 1"),
            ("floor_period", self.floor_period >= 1, "at least 1"),
            ("min_arms", 1 <= self.min_arms <= self.max_arms, "between 1 and max_arms"),
            ("max_arms", self.max_arms >= 1, "at least 1"),
            ("prior_strength", self.prior_strength > 0, "positive"),
            ("context_prior_drafts", self.context_prior_drafts >= 0, "at least 0"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"PolicyConfig.{name} must be {rule}, got {getattr(self, name)!r}")

    @property
    def history_window(self) -> int:
        """Reviewed batches worth replaying: older ones weigh less than 1/1000 after discounting."""
        if self.discount >= 1.0:
            return 10_000
        return max(self.floor_period, math.ceil(math.log(1e-3) / math.log(self.discount)))

    @classmethod
    def describe(cls) -> dict[str, str]:
        return {f.name: f.metadata["help"] for f in fields(cls)}
