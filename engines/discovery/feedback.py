"""Learning a user's taste from picks: a per-LoRA prior and per-(concept, LoRA) affinities, exposure-normalised.

The generation store (``engines/store/generations.py``, shared with CheckpointExplorer and the Draft
flow) records batches (with their prompt), drafts (with the LoRAs that made them and, once rendered,
their image) and picks. A batch the user reacted to (at least one ``picks`` row) is *engaged*; in it,
every draft with an image was shown, and a draft is picked when its pick row says ``selected = 1``.
Per engaged batch, each LoRA is counted once: *shown* when it was in a shown draft, *picked* when it
was in a picked draft. A pick on a draft therefore credits each of its LoRAs, for each word (concept)
of the batch's prompt; a LoRA that was shown and passed over is debited by its exposure.

- Prior of a LoRA: ``picked / (engaged batches + PRIOR_STRENGTH)``, how often this user reaches for it
  whatever the prompt (utility LoRAs: detail, LCM, film grain).
- Affinity of (word, LoRA): ``(picked + AFFINITY_STRENGTH * prior) / (prompts + AFFINITY_STRENGTH)``, how
  often it was picked for prompts with that word, shrunk towards the prior; and its pick rate when shown,
  ``(picked + AFFINITY_STRENGTH * prior) / (shown + AFFINITY_STRENGTH)``.

For a prompt, a LoRA's learned probability is its best affinity over the prompt's words (at least its
prior), used only from ``MIN_LEARNED`` on: a LoRA picked now and then is not yet a habit, and adding it to
every prompt would crowd out what the prompt asks for. Selection combines it with the prompt's calibrated relevance as a noisy-or,
and a LoRA that was shown for the prompt's words and passed over has its relevance scaled by its
exposure-normalised pick rate, so after a pick the picked LoRA ranks before the one passed over.
Aggregates are kept in ``discovery_affinity`` (word '' holds the per-LoRA counts, LoRA '' the per-word
prompt counts).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..store import Database
from ..store import generations
from .prompt import parse_prompt
from .store import COMPONENT, MIGRATIONS

PRIOR_STRENGTH = 1.0
AFFINITY_STRENGTH = 2.0
MIN_LEARNED = 0.5  # a learned probability below this (not yet a habit) is not used: it would add noise picks
_EXTENSIONS = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin")
ALL_PROMPTS = ""
ALL_LORAS = ""  # (word, '') counts the engaged batches whose prompt had the word

_ENGAGED_DRAFTS = """
SELECT d.batch_id AS batch, b.prompt AS prompt, d.loras AS loras, COALESCE(p.selected, 0) AS selected
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
    """Shown/picked batch counts per (word, LoRA key); word '' counts every engaged batch."""

    counts: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    batches: int = 0

    def prior(self, lora: str) -> float:
        _, picked = self.counts.get((ALL_PROMPTS, lora_key(lora)), (0.0, 0.0))
        return picked / (self.batches + PRIOR_STRENGTH) if self.batches else 0.0

    def learned(self, words: Iterable[str], lora: str) -> tuple[float, float]:
        """(learned probability, relevance factor) of ``lora`` for a prompt with ``words``.

        The probability is the best, over the prompt's words, of how often the user picked the LoRA for
        prompts with that word (shrunk towards its prior): a word in every prompt ("masterpiece") says no
        more than the prior. The factor is 1.0 unless the LoRA was shown for these words; then it follows
        its exposure-normalised pick rate, so passing a LoRA over lowers it for the same concept."""
        key = lora_key(lora)
        prior = self.prior(key)
        best, shown_rates = prior, []
        for word in words:
            shown, picked = self.counts.get((word, key), (0.0, 0.0))
            if shown:
                prompts, _ = self.counts.get((word, ALL_LORAS), (shown, 0.0))
                best = max(best, (picked + AFFINITY_STRENGTH * prior) / (prompts + AFFINITY_STRENGTH))
                shown_rates.append((picked + AFFINITY_STRENGTH * prior) / (shown + AFFINITY_STRENGTH))
        factor = min(1.0, 0.5 + max(shown_rates)) if shown_rates else 1.0
        return (best if best >= MIN_LEARNED else 0.0), factor

    def lora_keys(self) -> set[str]:
        """Every LoRA key something was learned about (the candidates whose relevance learning can change)."""
        return {lora for (_, lora) in self.counts if lora != ALL_LORAS}

    def loras(self) -> list[str]:
        """LoRA keys with a prior worth a candidate of their own."""
        return [lora for (word, lora) in self.counts
                if word == ALL_PROMPTS and lora != ALL_LORAS and self.prior(lora) >= MIN_LEARNED]

    def apply(self, index, candidates: list, keywords: dict, allowed: Callable[[int], bool], model) -> list:
        """Set ``learned`` on candidates, scale passed-over ones, add habitual LoRAs without prompt evidence."""
        from .scoring import Candidate

        by_key = {lora_key(c.entry.name): c for c in candidates}
        wanted = [key for key in self.loras() if key not in by_key]
        if wanted:
            ids = {lora_key(entry.name): entry_id for entry_id, entry in index.entries.items()}
            for key in wanted:
                entry_id = ids.get(key)
                if entry_id is not None and allowed(entry_id):
                    by_key[key] = Candidate(entry_id, index.entries[entry_id], model=model, keywords=keywords)
        for key, candidate in by_key.items():
            candidate.learned, candidate.factor_learned = self.learned(keywords, key)
        return list(by_key.values())


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
    """Counts from (batch id, prompt, loras JSON, selected) rows of the shown drafts of engaged batches."""
    batches: dict[str, tuple[str, dict[str, bool]]] = {}
    for batch, prompt, loras, selected in rows:
        _, seen = batches.setdefault(batch, (prompt, {}))
        for name in _draft_loras(loras):
            seen[name] = seen.get(name, False) or bool(selected)
    counts: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for prompt, seen in batches.values():
        concept_words = [ALL_PROMPTS, *parse_prompt(prompt).keywords()]
        for word in concept_words[1:]:
            counts[(word, ALL_LORAS)][0] += 1
        for name, picked in seen.items():
            for word in concept_words:
                pair = counts[(word, name)]
                pair[0] += 1
                pair[1] += 1 if picked else 0
    return Affinity({key: (shown, picked) for key, (shown, picked) in counts.items()}, len(batches))


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
            rows = [(row["batch"], row["prompt"], row["loras"], row["selected"])
                    for row in self.database.read(_ENGAGED_DRAFTS)]
            self._affinity = aggregate(rows)
            self._save(self._affinity)
            self._signature = signature
        return self._affinity

    def _save(self, affinity: Affinity) -> None:
        with self.database.transaction() as conn:
            conn.execute("DELETE FROM discovery_affinity")
            conn.executemany("INSERT INTO discovery_affinity(keyword, lora, shown, picked) VALUES (?, ?, ?, ?)",
                             [(word, lora, shown, picked) for (word, lora), (shown, picked) in affinity.counts.items()])
