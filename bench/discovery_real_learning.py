"""Learning a user's taste, evaluated as a user would meet it, through the generation store the panel writes.

For each source (one user, or one preset table) with at least ``MIN_RECORDS`` records: the first half of
its records (file order) are played as Draft batches: discovery's variations plus the user's own choice
are recorded as drafts with images (``record_batch`` / ``record_images``), and the user's draft is picked
(``record_picks``, as ``POST /lora_lab/picks`` does). The second half is then scored with and without
what was learned, by the relevance model fitted on the *other* sources.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..engines.discovery import DiscoverOptions, run_discovery
from ..engines.discovery.feedback import Learner
from ..engines.store import Database
from ..engines.store.generations import (BatchRecord, DraftImage, DraftPlan, ImageRef, LoraUse, draft_id,
                                         record_batch, record_images, record_picks)
from .discovery_real_data import Record, by_source, record_recall

MIN_RECORDS = 4
DRAFT_VARIATIONS = 3
CHECKPOINT = "checkpoint.safetensors"


def _options(record: Record, threshold: float, variations: int = 1, learning: bool = True) -> DiscoverOptions:
    return DiscoverOptions(family=record.family, allow_unknown_family=True, threshold=threshold,
                           variations=variations, seed=record.line, use_learning=learning)


def _feed(database: Database, batch: str, record: Record, suggested: list[list[str]]) -> None:
    """One Draft batch: the suggested drafts and the user's own, rendered; the user's is picked."""
    drafts = [names for names in suggested if names] + [list(record.chosen)]
    uses = [tuple(LoraUse(name, 0.7) for name in names) for names in drafts]
    record_batch(database, BatchRecord(batch, "explore", tuple(DraftPlan(i, CHECKPOINT, loras=u)
                                                               for i, u in enumerate(uses)), prompt=record.prompt))
    record_images(database, batch, [DraftImage(i, CHECKPOINT, ImageRef(f"{batch}_{i}.png"), u)
                                    for i, u in enumerate(uses)])
    record_picks(database, [draft_id(batch, len(drafts) - 1)], True)


def evaluate_learning(index, semantic, records: list[Record], models: dict, threshold: float) -> dict:
    """recall@3 on each eligible source's second half, with and without its first half learned."""
    learned, unlearned, sources, fed = [], [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for number, (source, group) in enumerate(sorted(by_source(records).items())):
            if len(group) < MIN_RECORDS:
                continue
            sources += 1
            learner = Learner(Database(Path(tmp) / f"user_{number}.sqlite"))
            half = len(group) // 2
            for position, record in enumerate(group[:half]):
                result = run_discovery(index, record.prompt, _options(record, threshold, DRAFT_VARIATIONS),
                                       learner.current(), semantic=semantic, model=models[source])
                _feed(learner.database, f"s{number}-{position}", record,
                      [[pick.name for pick in variant.picks] for variant in result.variants])
                fed += 1
            affinity = learner.current()
            for record in group[half:]:
                for sink, learn in ((learned, affinity), (unlearned, None)):
                    result = run_discovery(index, record.prompt, _options(record, threshold, learning=learn is not None),
                                           learn, semantic=semantic, model=models[source])
                    sink.append(record_recall([pick.name for pick in result.picks], record))
    count = max(1, len(learned))
    return {"recall_at_3_learned": round(sum(learned) / count, 4),
            "recall_at_3_unlearned": round(sum(unlearned) / count, 4),
            "hit_at_3_learned": round(sum(1 for r in learned if r > 0) / count, 4),
            "hit_at_3_unlearned": round(sum(1 for r in unlearned if r > 0) / count, 4),
            "learning_sources": sources, "learning_records_fed": fed, "learning_records_scored": len(learned)}
