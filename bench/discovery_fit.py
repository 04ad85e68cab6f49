"""Fit the calibrated relevance of discovery on real (prompt -> chosen LoRAs) records, split by source.

Every candidate discovery considers for a record's prompt (names only, against the pool) is one row of
features; its label is whether the record's author chose it. Weights are fitted twice, with and without
the semantic features. Cross validation leaves whole sources out (a source is one user or one preset
table): each source's records are scored by a model fitted on the other sources only.
``lora-lab bench discovery-fit --write`` refits on all records and writes
``engines/discovery/relevance_weights.json`` (weights and provenance only, no record text).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engines.discovery import DiscoverOptions, names_only_index
from ..engines.discovery.discover import discovery_candidates
from ..engines.discovery.feedback import lora_key
from ..engines.discovery.selection import select
from ..engines.discovery.relevance import FEATURES, WEIGHTS_FILE, RelevanceModel, fit_logistic, save_models
from .discovery_real_data import (DEFAULT_POOL, DEFAULT_RECORDS, Record, by_source, evaluate, generic_prompts,
                                  load_pool, load_records)

THRESHOLDS = (0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
MAX_GENERIC_FALSE_PICK_RATE = 0.05
RECALL_TOLERANCE = 0.02  # figures move ~0.05 between record sets: prefer the higher (safer) threshold within noise
_ZERO = RelevanceModel(tuple(0.0 for _ in FEATURES), 0.0, True)


def add_arguments(parser) -> None:
    parser.add_argument("--records", default=str(DEFAULT_RECORDS), help="JSONL records (prompt -> chosen LoRAs)")
    parser.add_argument("--pool", default=str(DEFAULT_POOL), help="LoRA names, one a line")
    parser.add_argument("--write", action="store_true", help=f"write the fitted weights to {WEIGHTS_FILE.name}")


def options_for(record_family: str, threshold: float = 0.4, max_loras: int = 3) -> DiscoverOptions:
    return DiscoverOptions(family=record_family, allow_unknown_family=True, use_learning=False,
                           threshold=threshold, max_loras=max_loras)


@dataclass
class Prepared:
    """A prompt's candidates (features fixed), ready to be re-scored with any model and threshold."""

    keywords: dict
    candidates: list
    labels: np.ndarray
    rows: np.ndarray

    def picks(self, model: RelevanceModel, threshold: float, max_loras: int = 3) -> list[str]:
        for candidate in self.candidates:
            candidate.model = model
        return [choice.candidate.entry.name for choice in select(self.candidates, self.keywords, max_loras,
                                                                 threshold).choices]


def prepare(index, prompt: str, family: str, semantic, chosen: tuple[str, ...] = ()) -> Prepared:
    _, keywords, candidates = discovery_candidates(index, prompt, options_for(family), semantic, _ZERO)
    rows = np.array([c.features() for c in candidates], dtype=np.float64).reshape(-1, len(FEATURES))
    labels = np.array([1.0 if lora_key(c.entry.name) in chosen else 0.0 for c in candidates])
    return Prepared(keywords, candidates, labels, rows)


def prepare_all(index, records: list[Record], semantic) -> dict[int, Prepared]:
    return {r.line: prepare(index, r.prompt, r.family, semantic, r.chosen) for r in records}


def fit_on(records: list[Record], prepared: dict[int, Prepared], semantic: bool) -> RelevanceModel:
    x = np.vstack([prepared[r.line].rows for r in records])
    y = np.concatenate([prepared[r.line].labels for r in records])
    return fit_logistic(x, y, semantic)


def out_of_source_models(records: list[Record], prepared: dict, semantic: bool) -> dict[str, RelevanceModel]:
    """For each source, the model fitted on every other source's records."""
    return {source: fit_on([r for r in records if r.source != source], prepared, semantic)
            for source in by_source(records)}


def picks_ranker(prepared: dict[int, Prepared], models: dict[str, RelevanceModel] | RelevanceModel,
                 threshold: float):
    """Discovery's picks (names only) with the record source's out-of-source model (or one model for all)."""
    def rank(record: Record) -> list[str]:
        model = models if isinstance(models, RelevanceModel) else models[record.source]
        return prepared[record.line].picks(model, threshold)

    return rank


def false_pick_rate(generic: list[Prepared], model: RelevanceModel, threshold: float) -> float:
    picked = sum(1 for item in generic if item.picks(model, threshold))
    return round(picked / max(1, len(generic)), 4)


def choose_threshold(records, prepared, models, full_model, generic) -> tuple[float, dict]:
    """The highest threshold whose out-of-source recall@3 is within ``RECALL_TOLERANCE`` of the best one
    among those whose generic false-pick rate is within bounds."""
    table = {}
    for threshold in THRESHOLDS:
        scores = evaluate(picks_ranker(prepared, models, threshold), records)
        table[threshold] = (scores.recall_at_3, scores.hit_at_3, false_pick_rate(generic, full_model, threshold))
    allowed = [t for t, row in table.items() if row[2] <= MAX_GENERIC_FALSE_PICK_RATE] or [max(THRESHOLDS)]
    best_recall = max(table[t][0] for t in allowed)
    safest = max(t for t in allowed if table[t][0] >= best_recall - RECALL_TOLERANCE)
    return safest, {f"t{t:g}": list(row) for t, row in table.items()}


def run(args) -> dict:
    from ..engines.discovery.embeddings import SemanticIndex
    from ..engines.discovery.semantic import shared_encoder

    records, pool = load_records(Path(args.records)), load_pool(Path(args.pool))
    index = names_only_index(pool)
    encoder = shared_encoder()
    semantic = SemanticIndex(encoder) if encoder is not None else None
    out: dict = {"records": len(records), "sources": len(by_source(records)),
                 "semantic_model": encoder.model_id if encoder else None}
    models = {}
    for key, sem in (("with_semantic", semantic), ("lexical_only", None)):
        if key == "with_semantic" and sem is None:
            continue
        prepared = prepare_all(index, records, sem)
        generic = [prepare(index, prompt, "unknown", sem) for prompt in generic_prompts(pool)]
        models[key] = fit_on(records, prepared, sem is not None)
        folds = out_of_source_models(records, prepared, sem is not None)
        threshold, table = choose_threshold(records, prepared, folds, models[key], generic)
        out[f"{key}_cv_recall_hit_falsepick_by_threshold"] = table
        out[f"{key}_threshold"] = threshold
        out[f"{key}_weights"] = dict(zip(FEATURES, (round(w, 3) for w in models[key].weights)))
        out[f"{key}_bias"] = round(models[key].bias, 3)
        out[f"{key}_positives_among_candidates"] = int(sum(p.labels.sum() for p in prepared.values()))
        out[f"{key}_candidate_rows"] = int(sum(len(p.labels) for p in prepared.values()))
    if args.write:
        threshold = out.get("with_semantic_threshold", out["lexical_only_threshold"])
        save_models(WEIGHTS_FILE, models, threshold, {"script": "bench/discovery_fit.py", "records": len(records),
                                                     "sources": out["sources"], "records_file": Path(args.records).name,
                                                     "pool_file": Path(args.pool).name, "model": out["semantic_model"]})
        out["written"] = str(WEIGHTS_FILE)
    return out
