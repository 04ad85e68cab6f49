"""The pluggable LoRA choice used by ``lora-lab queue --auto-lora`` / ``--lora``."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.engines.explorer.lora_choice import LoraRequest, fixed, name_match, parse_lora
from comfyui_lora_lab.engines.store.generations import LoraUse

AVAILABLE = ("anime_style_v2.safetensors", "styles/fantasy_landscape.safetensors", "detailed_hair.safetensors",
             "car_detailer.safetensors")


def test_name_match_picks_loras_whose_names_the_prompt_mentions():
    chosen = name_match(LoraRequest("beautiful anime girl with flowing hair in a fantasy forest", "c", AVAILABLE))
    assert [c.name for c in chosen] == ["anime_style_v2.safetensors", "detailed_hair.safetensors",
                                        "styles/fantasy_landscape.safetensors"]
    assert all(0.5 <= c.strength <= 0.8 for c in chosen)
    assert name_match(LoraRequest("a photo of a dog", "c", AVAILABLE)) == []


def test_fixed_loras_must_be_installed():
    choose = fixed([LoraUse("detailed_hair.safetensors", 0.6)])
    assert choose(LoraRequest("x", "c", AVAILABLE)) == [LoraUse("detailed_hair.safetensors", 0.6)]
    with pytest.raises(ValueError, match="nope.safetensors"):
        fixed([LoraUse("nope.safetensors", 0.6)])(LoraRequest("x", "c", AVAILABLE))


@pytest.mark.parametrize("text,expected", [("a.safetensors:0.5", LoraUse("a.safetensors", 0.5)),
                                           ("a.safetensors", LoraUse("a.safetensors", 0.7))])
def test_parse_lora(text, expected):
    assert parse_lora(text) == expected


@pytest.mark.parametrize("text", ["a.safetensors:strong", ":0.5"])
def test_parse_lora_refuses_bad_text(text):
    with pytest.raises(ValueError, match="NAME"):
        parse_lora(text)


def test_discovery_by_name_grounds_each_lora_in_a_prompt_word_and_respects_family_hints():
    from comfyui_lora_lab.engines.explorer.lora_choice import discovered_by_name

    names = ("anime_style_v2.safetensors", "ghibli_style_v2.safetensors", "pixel_art_xl.safetensors")
    assert [c.name for c in discovered_by_name(LoraRequest("ghibli style castle", "c", names))] == [
        "ghibli_style_v2.safetensors"]
    assert [c.name for c in discovered_by_name(LoraRequest("pixel art knight", "c", names))] == [
        "pixel_art_xl.safetensors"]
    assert discovered_by_name(LoraRequest("pixel art knight", "c", names), family="sd15") == [], "an XL LoRA"
    assert discovered_by_name(LoraRequest("masterpiece, best quality, a girl", "c", names)) == [], "generic words"
    # issue 14: a generic word never vetoes a LoRA named for it (the seed's "anime" -> anime_style_v2)
    assert [c.name for c in discovered_by_name(LoraRequest("masterpiece, best quality, anime girl", "c", names))] == [
        "anime_style_v2.safetensors"]
