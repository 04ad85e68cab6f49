"""Synthetic pairs: reproducible, diverse, every rewrite structured and faithful; the pairs file round-trips."""

from __future__ import annotations

import json
import re

import pytest

from comfyui_lora_lab.engines.prompt_refiner.data import DOMAINS, DataConfig, generate_pairs, load_pairs, save_pairs
from comfyui_lora_lab.engines.prompt_refiner.phrasebook import DETAIL_KINDS
from comfyui_lora_lab.engines.prompt_refiner.structure import missing_content_words, parse_structured


@pytest.fixture(scope="module")
def default_pairs():
    return generate_pairs(DataConfig())


def test_the_same_seed_gives_the_same_pairs_and_another_seed_others():
    first, again, other = (generate_pairs(DataConfig(n=60, seed=s, held_out=6)) for s in (3, 3, 4))
    assert first.sha256() == again.sha256() and first.train == again.train
    assert other.sha256() != first.sha256()


def test_default_is_500_pairs_with_a_50_pair_held_out_split_and_no_duplicate_inputs(default_pairs):
    assert (len(default_pairs.train), len(default_pairs.held_out)) == (450, 50)
    vague = [p.vague.lower() for p in default_pairs.train + default_pairs.held_out]
    assert len(set(vague)) == 500


def test_every_rewrite_has_the_six_sections_and_every_content_word_of_its_prompt(default_pairs):
    for pair in default_pairs.train + default_pairs.held_out:
        assert parse_structured(pair.structured) is not None, pair.structured
        assert missing_content_words(pair.vague, pair.structured) == [], pair


def test_pairs_are_diverse_across_domains_personas_details_and_lengths(default_pairs):
    stats = default_pairs.stats
    assert set(stats["domains"]) == {d.name for d in DOMAINS} and min(stats["domains"].values()) >= 25
    assert set(stats["detail_kinds"]) == set(DETAIL_KINDS) | {"domain"}
    assert stats["personas"] >= 40
    assert stats["vague_words"]["min"] <= 2 and stats["vague_words"]["max"] >= 15
    assert set(stats["constraints"]) == {2, 3, 4, 5} and set(stats["steps"]) == {3, 4, 5}


def test_pairs_file_round_trips_and_is_never_overwritten_silently(tmp_path):
    pairs = generate_pairs(DataConfig(n=20, held_out=5))
    path = save_pairs(pairs, tmp_path / "pairs.json")
    loaded = load_pairs(path)
    assert loaded.sha256() == pairs.sha256() and loaded.seed == 0
    with pytest.raises(FileExistsError):
        save_pairs(pairs, path)
    save_pairs(pairs, path, overwrite=True)


def test_a_plain_list_of_pairs_is_all_training_data(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([{"vague": "make logo", "structured": "Act as a designer. ..."}]))
    loaded = load_pairs(path)
    assert len(loaded.train) == 1 and loaded.held_out == []


@pytest.mark.parametrize("content,message", [
    (b"\xff\xfe not utf-8", "not UTF-8 JSON"),
    (b"{\"train\": 3}", "expected a JSON list"),
    (b"[{\"vague\": \"\", \"structured\": \"x\"}]", "list[0] needs non-empty"),
    (b"{\"train\": [{\"vague\": \"x\"}]}", "train[0] needs non-empty"),
])
def test_bad_pairs_files_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_pairs(path)


def test_missing_pairs_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="lora-lab refiner data"):
        load_pairs(tmp_path / "none.json")


@pytest.mark.parametrize("kwargs", [dict(n=5), dict(n=100, held_out=0), dict(n=100, held_out=100)])
def test_data_config_validates(kwargs):
    with pytest.raises(ValueError):
        DataConfig(**kwargs)
