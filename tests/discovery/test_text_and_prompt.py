"""Words from names and prompts, and A1111/ComfyUI prompt syntax, as tables."""

from __future__ import annotations

import time

import pytest

from comfyui_lora_lab.engines.discovery.prompt import LoraTag, attention_segments, parse_prompt
from comfyui_lora_lab.engines.discovery.text import fold, is_generic, name_chunks, name_words, words


@pytest.mark.parametrize("name,expected", [
    ("ArcaneStyle_v2-000012", ["arcane", "style"]),
    ("pixel-art-xl", ["pixel", "art"]),
    ("makima_(chainsaw_man)_v3", ["makima", "chainsaw", "man"]),
    ("hipoly3DModelLora_v10", ["hipoly", "3d"]),
    ("Ghibli_style_LoRA", ["ghibli", "style"]),
    ("FLORA_flowers", ["flora", "flower"]),
    ("lora_final_v3", []),
    ("epoch10_step3000_r16", []),
])
def test_name_words(name, expected):
    assert name_words(name) == expected


@pytest.mark.parametrize("name,expected", [("LowRA", ["lowra"]), ("MoXinV1", ["moxin"]), ("pixel_art", [])])
def test_name_chunks_keep_made_up_words_whole(name, expected):
    assert name_chunks(name) == expected


@pytest.mark.parametrize("word,expected", [("cats", "cat"), ("puppies", "puppy"), ("glasses", "glass"),
                                           ("dress", "dress"), ("bus", "bus"), ("peaches", "peach"), ("art", "art")])
def test_plural_folding(word, expected):
    assert fold(word) == expected


def test_words_drop_stop_words_and_join_hyphenated_compounds():
    assert words("A photo of the Spider-Man, with cats!") == ["photo", "spider", "man", "cat", "spiderman"]


@pytest.mark.parametrize("word,generic", [("masterpiece", True), ("eyes", True), ("illustration", True),
                                          ("ghibli", False), ("makima", False)])
def test_generic_words(word, generic):
    assert is_generic(fold(word)) is generic


@pytest.mark.parametrize("text,expected", [
    ("a (red:1.2) dress", [("a ", 1.0), ("red", 1.2), (" dress", 1.0)]),
    ("((best))", [("best", pytest.approx(1.21))]),
    ("[bad]", [("bad", pytest.approx(1 / 1.1))]),
    ("\\(literal\\)", [("(literal)", 1.0)]),
    ("(a (b:1.5))", [("a ", pytest.approx(1.1)), ("b", pytest.approx(1.65))]),
    ("unbalanced ) and (open", [("unbalanced ) and ", 1.0), ("open", pytest.approx(1.1))]),
])
def test_attention_segments(text, expected):
    assert attention_segments(text) == expected


def test_prompt_syntax_is_parsed_into_weighted_keywords_and_tags():
    parsed = parse_prompt("masterpiece, (makima \\(chainsaw man\\):1.2) <lora:makimaV2:0.8:0.6> BREAK "
                          "embedding:easynegative, {cats|dogs}, __colors__, <lyco:inkStyle>")
    assert parsed.lora_tags == [LoraTag("makimaV2", 0.8, 0.6), LoraTag("inkStyle", 1.0, 1.0)]
    assert parsed.embeddings == ["easynegative"]
    keywords = parsed.keywords()
    assert keywords["makima"] == 1.2 and keywords["cat"] == keywords["dog"] == 1.0
    assert "easynegative" not in keywords and "color" not in keywords and "lora" not in keywords
    assert [word for word, _ in parsed.chunks[1]] == ["makima", "chainsaw", "man"]


@pytest.mark.parametrize("prompt", ["", "   ", "!!!,,,;;;", "(((((", "))))", "<lora:>", "\\", None, 12345])
def test_odd_prompts_parse_to_nothing_or_little(prompt):
    parsed = parse_prompt(prompt)
    assert isinstance(parsed.keywords(), dict)


@pytest.mark.parametrize("prompt", ["(" * 10_000, "word, " * 2000, "(a:1.1)" * 1500, "\\(" * 5000])
def test_huge_prompts_are_capped_and_fast(prompt):
    start = time.perf_counter()
    parsed = parse_prompt(prompt)
    assert time.perf_counter() - start < 0.5
    assert len(parsed.text) <= 5000 + 10
    assert (len(prompt) > 5000) == bool(parsed.warnings)
