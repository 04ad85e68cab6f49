"""Learning from picks: per (keyword, LoRA) pick rates from the pack's generation store, as ranking boosts.

The generation store (``engines/store/generations.py``, shared with CheckpointExplorer) records batches
(with their prompt), drafts (with the LoRAs that made them and, once rendered, their image) and picks.
As CheckpointExplorer counts them, a draft was shown when it has an image; in a batch the user reacted to
(at least one ``picks`` row) every shown draft counts as an exposure, and a draft is picked when its pick
row says ``selected = 1``. For each prompt word and each LoRA of a shown draft we count shown and picked,
and keep those aggregates in ``discovery_affinity``.

The boost of a LoRA for a prompt is the geometric mean, over the words the LoRA matched, of the lift of
its Beta posterior pick rate over the store's overall pick rate, clamped to ``BOOST_RANGE``. It only
re-orders grounded candidates (see ``selection``): it never adds a LoRA the prompt gives no evidence
for, and never lifts one over the abstain threshold.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..store import Database
from ..store import generations
from .prompt import parse_prompt
from .store import COMPONENT, MIGRATIONS

PRIOR_STRENGTH = 4.0
BOOST_RANGE = (0.5, 2.0)
_EXTENSIONS = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin")

_ENGAGED_DRAFTS = """
SELECT b.prompt AS prompt, d.loras AS loras, COALESCE(p.selected, 0) AS selected
FROM drafts d
JOIN batches b ON b.id = d.batch_id
LEFT JOIN picks p ON p.draft_id = d.id
WHERE d.image_filename != ''
  AND d.batch_id IN (SELECT d2.batch_id FROM drafts d2 JOIN picks p2 ON p2.draft_id = d2.id)
"""
_SIGNATURE = "SELECT COUNT(*), COALESCE(MAX(picked_at), 0), COALESCE(SUM(selected), 0) FROM picks"


def lora_key(name: str) -> str:
    """Names compare without extension, case or path-separator differences."""
    key = name.replace("\\", "/").strip().lower()
    for extension in _EXTENSIONS:
        if key.endswith(extension):
            return key[: -len(extension)]
    return key


@dataclass
class Affinity:
    """Shown/picked counts per (keyword, LoRA key) and the overall pick rate."""

    counts: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    base_rate: float = 0.0

    def lift(self, word: str, lora: str) -> float | None:
        seen = self.counts.get((word, lora_key(lora)))
        if seen is None or not 0.0 < self.base_rate < 1.0:
            return None
        shown, picked = seen
        prior_picked = PRIOR_STRENGTH * self.base_rate
        posterior = (prior_picked + picked) / (PRIOR_STRENGTH + shown)
        return posterior / self.base_rate

    def boost(self, words: Iterable[str], lora: str) -> float:
        """Clamped geometric mean of the lifts of ``lora`` over ``words`` (1.0 when nothing was learned)."""
        lifts = [lift for word in words if (lift := self.lift(word, lora)) is not None]
        if not lifts:
            return 1.0
        value = math.exp(sum(math.log(max(lift, 1e-6)) for lift in lifts) / len(lifts))
        return round(min(BOOST_RANGE[1], max(BOOST_RANGE[0], value)), 4)


def _draft_loras(raw: str) -> list[str]:
    try:
        items = json.loads(raw or "[]")
    except json.JSONDecodeError:
        return []
    names = []
    for item in items if isinstance(items, list) else []:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip():
            names.append(lora_key(name))
    return names


def aggregate(rows: Iterable) -> Affinity:
    """Counts from (prompt, loras JSON, selected) rows of engaged batches."""
    counts: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    drafts = picked = 0
    word_cache: dict[str, list[str]] = {}
    for prompt, loras, selected in rows:
        drafts += 1
        picked += 1 if selected else 0
        if prompt not in word_cache:
            word_cache[prompt] = list(parse_prompt(prompt).keywords())
        for name in _draft_loras(loras):
            for word in word_cache[prompt]:
                pair = counts[(word, name)]
                pair[0] += 1
                pair[1] += 1 if selected else 0
    base_rate = picked / drafts if drafts else 0.0
    return Affinity({key: (shown, chosen) for key, (shown, chosen) in counts.items()}, base_rate)


class Learner:
    """Keeps the affinity in step with the generation store, recomputing only when the picks changed."""

    def __init__(self, database: Database) -> None:
        self.database = database
        database.migrate(COMPONENT, MIGRATIONS)
        database.migrate(generations.COMPONENT, generations.MIGRATIONS)
        self._signature: tuple | None = None
        self._affinity = Affinity()

    def signature(self) -> tuple:
        """Changes whenever a pick is added, changed or removed."""
        return tuple(self.database.read(_SIGNATURE)[0])

    def current(self) -> Affinity:
        signature = self.signature()
        if signature != self._signature:
            rows = [(row["prompt"], row["loras"], row["selected"]) for row in self.database.read(_ENGAGED_DRAFTS)]
            self._affinity = aggregate(rows)
            self._save(self._affinity)
            self._signature = signature
        return self._affinity

    def _save(self, affinity: Affinity) -> None:
        with self.database.transaction() as conn:
            conn.execute("DELETE FROM discovery_affinity")
            conn.executemany("INSERT INTO discovery_affinity(keyword, lora, shown, picked) VALUES (?, ?, ?, ?)",
                             [(word, lora, shown, picked) for (word, lora), (shown, picked) in affinity.counts.items()])
