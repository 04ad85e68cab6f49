"""What the policy knows about each checkpoint of a tier: discounted picks per draft shown, raw exposure.

Picks are relative choices among the drafts the user saw, so evidence is *exposure-normalised*: an arm is
credited one "shown" per draft it had in a reviewed batch and one "pick" per selected draft. Only reviewed
batches (the user gave at least one verdict) that compared two or more checkpoints teach the policy: a
Quick batch (one checkpoint) says nothing about which checkpoint is better, and an unreviewed batch says
nothing at all. Each teaching batch first multiplies older evidence by ``discount``, so a change of taste
is followed. Raw exposures (every draft shown) drive the exploration floor and Quick mode's guard.

The same :meth:`ArmTable.observe` is used when the store replays history and when the benchmark simulates
users, so the benchmark measures the product's arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

NEVER = 1_000_000  # "batches since shown" of an arm that was never shown


@dataclass(frozen=True)
class BatchOutcome:
    """One batch of a tier, as the policy sees it: drafts planned/shown and picks per checkpoint."""

    planned: Mapping[str, int]
    shown: Mapping[str, int] = field(default_factory=dict)
    picks: Mapping[str, int] = field(default_factory=dict)
    reviewed: bool = False

    @property
    def teaches(self) -> bool:
        return self.reviewed and sum(1 for n in self.shown.values() if n > 0) >= 2


class ArmTable:
    """Per-arm evidence of one tier (arrays in pool order)."""

    def __init__(self, names: Sequence[str]) -> None:
        if len(set(names)) != len(names):
            raise ValueError(f"checkpoint names in a tier must be unique, got {list(names)}")
        self.names = tuple(names)
        size = len(self.names)
        self.picks = np.zeros(size)
        self.shown = np.zeros(size)
        self.exposures = np.zeros(size, dtype=np.int64)
        self.idle = np.full(size, NEVER, dtype=np.int64)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def vector(self, counts: Mapping[str, int]) -> np.ndarray:
        """A per-arm vector from a {name: count} mapping (names outside the tier are ignored)."""
        out = np.zeros(len(self.names))
        for name, value in counts.items():
            if name in self.names:
                out[self.names.index(name)] = value
        return out

    def observe_arrays(self, planned: np.ndarray, shown: np.ndarray, picks: np.ndarray, teaches: bool,
                       discount: float) -> None:
        """Fold one batch in (arrays in pool order); the hot path of the simulation."""
        self.idle += 1
        self.idle[planned > 0] = 0
        self.exposures += shown.astype(np.int64)
        if teaches:
            self.picks *= discount
            self.shown *= discount
            self.picks += picks
            self.shown += shown

    def observe(self, outcome: BatchOutcome, discount: float) -> None:
        self.observe_arrays(self.vector(outcome.planned), self.vector(outcome.shown), self.vector(outcome.picks),
                            outcome.teaches, discount)

    def blended(self, prior: ArmTable, max_drafts: float) -> ArmTable:
        """This table's evidence plus ``prior``'s, scaled so the prior counts for at most ``max_drafts``."""
        out = ArmTable(self.names)
        scale = min(1.0, max_drafts / prior.shown.sum()) if prior.shown.sum() > 0 else 0.0
        out.picks, out.shown = self.picks + scale * prior.picks, self.shown + scale * prior.shown
        out.exposures, out.idle = self.exposures.copy(), self.idle.copy()
        return out

    @classmethod
    def replay(cls, names: Sequence[str], outcomes: Sequence[BatchOutcome], discount: float,
               exposures: Mapping[str, int] | None = None) -> ArmTable:
        """The table after ``outcomes`` (oldest first); ``exposures`` overrides the raw all-time counts."""
        table = cls(names)
        for outcome in outcomes:
            table.observe(outcome, discount)
        if exposures is not None:
            table.exposures = table.vector(exposures).astype(np.int64)
        return table
