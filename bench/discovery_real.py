"""Discovery on real prompts and the LoRAs their authors chose, names only, against baselines in the same run.

Input: ``--records`` (JSONL: prompt -> chosen LoRAs, with a ``source``) and ``--pool`` (LoRA names, one a
line), by default the development files in ``../shared/data/`` (read in place, never copied). Everything
ranks the pool's names alone, as ``lora-lab discover --server`` and a names-only library do.

Headline figures are out-of-source: each source's records are ranked with the relevance model fitted on
the other sources (leave-one-source-out); the shipped weights' in-sample figures are reported beside
them. Baselines on the same input: token overlap, BM25 over name tokens, and the sentence embedding
alone (top 3 by similarity to a prompt phrase). ``generic_false_pick_rate``: share of everyday prompts
sharing no word with any pool name that get a pick. Learning: see ``discovery_real_learning``. Scale:
``--names`` names (the pool plus generated ones): cold and warm entry embedding and query latency with
semantic matching on, beside the lexical-only query in the same run; ``query_cpu_p95_ms`` is the CPU
time of a query (all threads), which other processes on a busy machine do not inflate as they do wall time.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..engines.discovery import DiscoverOptions, names_only_index, run_discovery
from ..engines.discovery.discover import prompt_phrases
from ..engines.discovery.prompt import parse_prompt
from ..engines.discovery.relevance import shipped_model, shipped_threshold
from .discovery_fit import options_for, out_of_source_models, picks_ranker, prepare_all
from .discovery_real_data import (DEFAULT_POOL, DEFAULT_RECORDS, Record, bm25_baseline, by_source, evaluate,
                                  generic_prompts, load_pool, load_records, token_overlap_baseline)
from .discovery_real_learning import evaluate_learning
from .timing import percentile

GOALS = {"recall_at_3": (">=", 0.45), "hit_at_3": (">=", 0.55), "recall_at_3_learned": (">=", 0.55),
         "generic_false_pick_rate": ("<=", 0.05), "query_p95_ms": ("<=", 50.0), "embed_cold_s": ("<=", 60.0),
         "embed_warm_s": ("<=", 1.0)}
SCALE_WORDS = ("style", "art", "detail", "light", "city", "girl", "armor", "dress", "forest", "castle", "neon",
               "ink", "paper", "glass", "steel", "flower", "dragon", "robot", "ocean", "desert", "snow", "fire",
               "gothic", "retro", "pastel", "sketch", "oil", "chrome", "velvet", "crystal", "shadow", "cloud")


def add_arguments(parser) -> None:
    parser.add_argument("--records", default=str(DEFAULT_RECORDS), help="JSONL records (prompt -> chosen LoRAs)")
    parser.add_argument("--pool", default=str(DEFAULT_POOL), help="LoRA names, one a line")
    parser.add_argument("--names", type=int, default=10_000, help="library size of the scale figures (0: skip)")


def _inputs(args) -> tuple[list[Record], list[str]]:
    for path, what in ((args.records, "--records"), (args.pool, "--pool")):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{what} file '{path}' does not exist; the development set lives in "
                                    f"../shared/data/ next to the repository, or pass a file of the same schema")
    return load_records(Path(args.records)), load_pool(Path(args.pool))


def embedding_baseline(index, semantic):
    """The sentence embedding alone: the three names most similar to any phrase of the prompt."""
    semantic.sync(index)

    def rank(record: Record) -> list[str]:
        match = semantic.match(prompt_phrases(parse_prompt(record.prompt)))
        if match is None:
            return []
        order = np.argsort(-match.best_per_entry, kind="stable")[:3]
        return [index.entries[int(match.ids[int(i)])].name for i in order]

    return rank


def _quality(index, semantic, records: list[Record], pool: list[str]) -> dict:
    threshold = shipped_threshold()
    out: dict = {"threshold": threshold}
    prepared = prepare_all(index, records, semantic)
    folds = out_of_source_models(records, prepared, semantic is not None)
    out.update(evaluate(picks_ranker(prepared, folds, threshold), records).as_dict())
    out.update(evaluate(picks_ranker(prepared, shipped_model(semantic is not None), threshold), records)
               .as_dict("in_sample_"))
    if semantic is not None:
        lexical = prepare_all(index, records, None)
        out.update(evaluate(picks_ranker(lexical, out_of_source_models(records, lexical, False), threshold),
                            records).as_dict("lexical_only_"))
        out.update(evaluate(embedding_baseline(index, semantic), records).as_dict("baseline_embedding_"))
    out.update(evaluate(token_overlap_baseline(pool), records).as_dict("baseline_token_"))
    out.update(evaluate(bm25_baseline(pool), records).as_dict("baseline_bm25_"))
    prompts = generic_prompts(pool)
    picked = [p for p in prompts if run_discovery(index, p, options_for("unknown", threshold), semantic=semantic).picks]
    out.update(generic_false_pick_rate=round(len(picked) / max(1, len(prompts)), 4), generic_prompts=len(prompts))
    out.update(evaluate_learning(index, semantic, records, folds, threshold))
    return out


def scale_names(pool: list[str], count: int, seed: int = 0) -> list[str]:
    """The pool plus generated names in the ecosystem's shapes (camelCase, separators, versions, family tags)."""
    rng = np.random.default_rng(seed)
    names, shapes = dict.fromkeys(pool), ("{a}_{b}_v{n}", "{A}{B}-{n:06d}", "{a}-{b}-{c}_xl", "flux_{a}_{b}", "{A}{B}{C}Lora_v{n}")
    while len(names) < count:
        a, b, c = (SCALE_WORDS[i] for i in rng.integers(0, len(SCALE_WORDS), 3))
        shape = shapes[int(rng.integers(0, len(shapes)))]
        names[shape.format(a=a, b=b, c=c, A=a.title(), B=b.title(), C=c.title(), n=len(names)) + ".safetensors"] = None
    return list(names)[:count]


def _scale(encoder, records: list[Record], pool: list[str], count: int) -> dict:
    from ..engines.discovery.embeddings import EmbeddingCache, SemanticIndex
    from ..engines.store import Database

    index = names_only_index(scale_names(pool, count))
    out: dict = {"scale_names": len(index)}
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(Path(tmp) / "index.sqlite")
        start = time.perf_counter()
        cold = SemanticIndex(encoder, EmbeddingCache(database))
        cold.sync(index)
        out["embed_cold_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        warm = SemanticIndex(encoder, EmbeddingCache(database))
        warm.sync(index)
        out["embed_warm_s"] = round(time.perf_counter() - start, 3)
        out["embed_warm_computed"] = warm.embedded
        database.close()
    encoder.clear_phrases()
    for label, semantic in (("", warm), ("lexical_", None)):
        times, cpu_times = [], []
        for record in records:
            start, cpu_start = time.perf_counter(), time.process_time()
            run_discovery(index, record.prompt, DiscoverOptions(family=record.family, allow_unknown_family=True),
                          semantic=semantic)
            times.append((time.perf_counter() - start) * 1000)
            cpu_times.append((time.process_time() - cpu_start) * 1000)
        out[f"{label}query_p50_ms"] = round(percentile(times, 50), 2)
        out[f"{label}query_p95_ms"] = round(percentile(times, 95), 2)
        out[f"{label}query_cpu_p95_ms"] = round(percentile(cpu_times, 95), 2)  # CPU time: what load does not inflate
    out["query_p95_over_lexical"] = round(out["query_p95_ms"] / max(1e-6, out["lexical_query_p95_ms"]), 2)
    return out


def run(args) -> dict:
    from ..engines.discovery.embeddings import SemanticIndex
    from ..engines.discovery.semantic import shared_encoder

    records, pool = _inputs(args)
    encoder = shared_encoder()
    semantic = SemanticIndex(encoder) if encoder is not None else None
    index = names_only_index(pool)
    out: dict = {"records": len(records), "sources": len(by_source(records)), "pool": len(pool),
                 "semantic_model": encoder.model_id if encoder else "none (lexical only)"}
    out.update(_quality(index, semantic, records, pool))
    if args.names > 0 and encoder is not None:
        out.update(_scale(encoder, records, pool, args.names))
    out["load_average_1m"] = round(os.getloadavg()[0], 2)
    out["cpu_count"] = os.cpu_count()
    return out
