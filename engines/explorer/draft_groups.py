"""Which LoRA combination each checkpoint group of a draft batch gets, learned per (checkpoint, combination).

The seed's Draft flow runs Explore and Auto-LoRA together: a batch of 20 drafts is spread over 2-3
checkpoints (the explorer policy) and each checkpoint group gets its own combination drawn from the LoRAs
discovery found for the prompt ("7 beenyouLite + anime_style_v2, 7 realisticVision + fantasy_landscape, 6
dreamshaper + detailed_hair"). The options are each candidate alone, all candidates together and no LoRA
(the control that lets picks tell a LoRA's effect from a checkpoint's).

Learning is per *pair*: a LoRA that helps one checkpoint may spoil another, so the evidence of a
(checkpoint, combination) pair is its own exposure-normalised count, drafts shown and drafts picked,
discounted per reviewed batch like the checkpoint arms. Each option's pick rate has a Beta posterior whose
prior is centred on what the factors say (the checkpoint's rate times the combination's lift over the
pooled rate, each a posterior mean), so a pair with no evidence of its own starts from its factors instead of from zero.
Groups take distinct options (every batch compares combinations); the assignment maximises the groups'
Thompson draws weighted by group size, searched exhaustively (at most 3 groups and a handful of options).
With no evidence at all the assignment is the candidates' relevance order: the seed's example.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

Combo = tuple[str, ...]  # LoRA keys (normalised names), sorted; () is the no-LoRA control
NO_LORA: Combo = ()
PRIOR_STRENGTH = 2.0
_EXTENSIONS = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin")


def lora_key(name: str) -> str:
    """LoRA names compare without folder, extension or case (``sub/Anime.safetensors`` == ``anime``)."""
    key = name.replace("\\", "/").strip().lower().rsplit("/", 1)[-1]
    for extension in _EXTENSIONS:
        if key.endswith(extension):
            return key[: -len(extension)]
    return key


def combo_of(names: Sequence[str]) -> Combo:
    return tuple(sorted({lora_key(name) for name in names}))


def combo_label(combo: Combo) -> str:
    return " + ".join(combo) if combo else "no LoRA"


def options_for(candidates: Sequence[str], with_control: bool = True) -> list[Combo]:
    """Each candidate alone (relevance order), then all of them together, then the control."""
    singles = list(dict.fromkeys(combo_of([name]) for name in candidates))
    options = singles + ([combo_of(candidates)] if len(singles) > 1 else [])
    return options + ([NO_LORA] if with_control else [])


@dataclass(frozen=True)
class DraftOutcome:
    """One shown draft of a reviewed batch: its checkpoint, its combination, whether it was picked."""

    checkpoint: str
    combo: Combo
    picked: bool


@dataclass
class PairTable:
    """Discounted drafts shown and picked per (checkpoint, combination), and per factor."""

    shown: dict[tuple[str, Combo], float] = field(default_factory=dict)
    picks: dict[tuple[str, Combo], float] = field(default_factory=dict)

    def observe(self, batch: Sequence[DraftOutcome], discount: float) -> None:
        """Fold one reviewed batch in; older evidence first loses weight (a change of taste is followed)."""
        for key in self.shown:
            self.shown[key] *= discount
            self.picks[key] *= discount
        for draft in batch:
            key = (draft.checkpoint, draft.combo)
            self.shown[key] = self.shown.get(key, 0.0) + 1.0
            self.picks[key] = self.picks.get(key, 0.0) + (1.0 if draft.picked else 0.0)

    def pooled_rate(self) -> float:
        return (sum(self.picks.values()) + 1.0) / (sum(self.shown.values()) + 2.0)

    def _factor(self, index: int, value) -> tuple[float, float]:
        shown = sum(s for key, s in self.shown.items() if key[index] == value)
        return shown, sum(p for key, p in self.picks.items() if key[index] == value)

    def factor_rate(self, index: int, value) -> float:
        """Posterior-mean rate of one checkpoint (index 0) or one combination (index 1) over all its pairs."""
        pooled = self.pooled_rate()
        shown, picks = self._factor(index, value)
        return (PRIOR_STRENGTH * pooled + picks) / (PRIOR_STRENGTH + shown)

    def beta(self, checkpoint: str, combo: Combo, per_factor: bool = False) -> tuple[float, float]:
        """Posterior Beta(a, b) of a pair's pick rate (``per_factor``: of the combination alone)."""
        pooled = self.pooled_rate()
        if per_factor:
            shown, picks = self._factor(1, combo)
            centre = pooled
        else:
            shown, picks = self.shown.get((checkpoint, combo), 0.0), self.picks.get((checkpoint, combo), 0.0)
            factor = self.factor_rate(0, checkpoint) * self.factor_rate(1, combo) / pooled
            centre = min(0.99, max(0.01, factor))
        return PRIOR_STRENGTH * centre + picks, PRIOR_STRENGTH * (1.0 - centre) + max(shown - picks, 0.0)

    def evidence(self) -> float:
        return sum(self.shown.values())


def assign(groups: Sequence[tuple[str, int]], options: Sequence[Combo], table: PairTable,
           rng: np.random.Generator, per_factor: bool = False) -> list[Combo]:
    """One distinct option per checkpoint group ``(checkpoint, drafts)``, maximising the size-weighted draws.

    ``per_factor`` scores a combination by its own evidence whatever the checkpoint (the independent
    per-factor learner the benchmark compares with). With no evidence at all: options in order, the
    largest group first (the seed's example). With fewer options than groups, options repeat.
    """
    if not groups:
        return []
    if not options:
        return [NO_LORA] * len(groups)
    if table.evidence() == 0:
        return [options[i % len(options)] for i in range(len(groups))]
    draws = np.array([[rng.beta(*table.beta(checkpoint, combo, per_factor)) for combo in options]
                      for checkpoint, _ in groups])
    sizes = np.array([size for _, size in groups], dtype=float)
    if len(options) < len(groups):
        return [options[int(np.argmax(row))] for row in draws]
    best, best_value = None, -1.0
    for chosen in itertools.permutations(range(len(options)), len(groups)):
        value = float(np.dot(sizes, draws[np.arange(len(groups)), list(chosen)]))
        if value > best_value:
            best, best_value = chosen, value
    return [options[i] for i in best]


def groups_of(checkpoints: Sequence[str]) -> list[tuple[str, int]]:
    """Checkpoint groups of a batch's drafts (in draft order): ``[(checkpoint, drafts)]``."""
    counts: dict[str, int] = {}
    for name in checkpoints:
        counts[name] = counts.get(name, 0) + 1
    return list(counts.items())


def group_index(checkpoints: Sequence[str], draft_index: int) -> int:
    """Which group (position in :func:`groups_of`) a draft belongs to."""
    if not 0 <= draft_index < len(checkpoints):
        raise ValueError(f"draft index {draft_index} is outside the batch of {len(checkpoints)} drafts")
    return [name for name, _ in groups_of(checkpoints)].index(checkpoints[draft_index])


def table_from(batches: Sequence[Sequence[DraftOutcome]], discount: float) -> PairTable:
    table = PairTable()
    for batch in batches:
        table.observe(batch, discount)
    return table

