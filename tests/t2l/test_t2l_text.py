"""Prompt preprocessing: syntax stripping as a table, the window, the shuffled control."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.engines.text_to_lora.text import shuffled, strip_prompt_syntax, tokenize_prompt

STRIP_CASES = [
    ("a red fox", "a red fox", ()),
    ("(red fox:1.3), snow", "red fox, snow", (":1.3",)),
    ("((masterpiece)), a cat", "masterpiece, a cat", ()),
    ("a [blurry] photo", "a blurry photo", ()),
    ("a cat embedding:bad_hands, dog", "a cat, dog", ("embedding:bad_hands",)),
    ("portrait <lora:style_x:0.8> of a man", "portrait of a man", ("<lora:style_x:0.8>",)),
    ("[cat:dog:0.5] in a [red|blue] room", "cat in a red room", ("[cat:dog:0.5]", "[red|blue]")),
    ("a [fox:0.3] in snow", "a in snow", ("[fox:0.3]",)),
    ("a cat BREAK a dog", "a cat, a dog", ("BREAK",)),
    (r"a cat \(cute\)", "a cat (cute)", ()),
    ("(a (nested:1.1) thing:0.9)", "a nested thing", (":1.1", ":0.9")),
    ("ratio 3:2, a: b", "ratio 3:2, a: b", ()),
]


@pytest.mark.parametrize("prompt, text, removed", STRIP_CASES)
def test_weight_embedding_and_lora_syntax_is_stripped_and_reported(prompt, text, removed):
    clean = strip_prompt_syntax(prompt)
    assert clean.text == text
    assert clean.removed == removed


class WordTokenizer:
    def encode_text(self, text):
        return [len(word) for word in text.split()]


@pytest.mark.parametrize("prompt", ["", "   \n", "(:1.2)", "<lora:x:1> embedding:y"])
def test_empty_prompts_are_refused_with_a_clear_error(prompt):
    with pytest.raises(ValueError, match="empty|no words"):
        tokenize_prompt(prompt, WordTokenizer(), 10)


def test_a_prompt_longer_than_the_window_says_what_is_used():
    tokens = tokenize_prompt("one two three four five six", WordTokenizer(), 4, decode=lambda ids: f"{len(ids)} ids")
    assert tokens.ids == (3, 3, 5, 4) and tokens.dropped == 2
    assert "window holds 4" in tokens.warnings[0] and "'4 ids'" in tokens.warnings[0]


def test_the_real_clip_tokenizer_window_is_75_content_tokens(clip_bundle):
    tokenizer = clip_bundle.tokenizer
    tokens = tokenize_prompt("cat " * 100, tokenizer, tokenizer.window(77), tokenizer.decode)
    assert len(tokens.ids) == 75 and tokens.dropped == 25


@pytest.mark.parametrize("ids", [(1, 2, 3, 4), (5, 5, 6), (7, 8)])
def test_shuffled_control_is_a_seeded_reordering_of_the_same_tokens(ids):
    control = shuffled(ids, seed=3)
    assert sorted(control) == sorted(ids) and control != ids
    assert shuffled(ids, seed=3) == control


def test_a_prompt_of_one_repeated_token_has_no_other_order():
    assert shuffled((4, 4, 4), seed=0) == (4, 4, 4)
