"""The six-section format, its layout, content words and the quality metrics, as tables over small texts."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.engines.prompt_refiner.metrics import content_recall, rouge_l, score
from comfyui_lora_lab.engines.prompt_refiner.structure import (
    StructuredPrompt, SECTION_NAMES, content_words, layout_sections, missing_content_words, parse_structured,
    sections_found, words)

GOOD = StructuredPrompt("a chef", "Dinner for two.", "Cook pasta.", ("Use fresh basil.", "Keep it simple."),
                        ("Boil water.", "Cook the pasta."), "A tasty pasta.")
ONE_LINE = " ".join(GOOD.render().split())


@pytest.mark.parametrize("text,ok", [
    (GOOD.render(), True),
    (ONE_LINE, True),  # what a T5 tokenizer gives back: newlines become spaces
    (ONE_LINE.replace("Goal: A tasty pasta.", ""), False),  # a section missing
    (ONE_LINE.replace("Goal: A tasty pasta.", "Goal:"), False),  # an empty section
    (ONE_LINE.replace("Context: Dinner for two. Task: Cook pasta.", "Task: Cook pasta. Context: Dinner for two."), False),
    (ONE_LINE + " Goal: again", False),  # a marker twice
    ("Sure! " + ONE_LINE, False),  # must start with the persona
    (ONE_LINE.replace("- Use fresh basil. - Keep it simple.", "Use fresh basil."), False),  # no bullet
    (ONE_LINE.replace("1. Boil water. 2. Cook the pasta.", "Boil water."), False),  # no numbered step
])
def test_parse_requires_six_sections_once_in_order_with_items(text, ok):
    assert (parse_structured(text) is not None) is ok


def test_parse_recovers_the_sections():
    assert parse_structured(ONE_LINE) == GOOD


@pytest.mark.parametrize("text,expected", [
    (ONE_LINE, list(SECTION_NAMES)),
    (ONE_LINE.replace("Goal: A tasty pasta.", ""), list(SECTION_NAMES[:-1])),
    ("Task: x Context: y Task: z", ["task", "context", "task"]),  # out of order and repeated, as found
    ("no markers at all", []),
])
def test_sections_found_names_markers_in_order_of_appearance(text, expected):
    assert sections_found(text) == expected


def test_layout_only_changes_whitespace_and_is_idempotent():
    laid_out = layout_sections(ONE_LINE)
    assert laid_out == GOOD.render()
    assert layout_sections(laid_out) == laid_out
    assert words(layout_sections("free text - with a dash 3. and a number")) == words("free text - with a dash 3. and a number")


@pytest.mark.parametrize("text,expected", [
    ("create function", ["create", "function"]),
    ("can you pls make me a logo for my coffee shop??", ["make", "logo", "coffee", "shop"]),
    ("Plan a 5k run, 3 days", ["plan", "5k", "run", "3", "days"]),
    ("a the of", []),
    ("Logo logo LOGO", ["logo"]),
])
def test_content_words_drop_filler_and_keep_order(text, expected):
    assert content_words(text) == expected


def test_missing_words_and_recall_name_what_the_output_lost():
    assert missing_content_words("poster for a jazz concert", "Task: Create a poster for a concert.") == ["jazz"]
    assert content_recall("poster for a jazz concert", "a jazz concert poster") == 1.0
    assert content_recall("poster for a jazz concert", "nothing") == 0.0
    assert content_recall("please help", "anything") == 1.0  # no content words: nothing to lose


@pytest.mark.parametrize("candidate,reference,expected", [
    ("a b c d", "a b c d", 1.0),
    ("a b c d", "e f g", 0.0),
    ("", "a", 0.0),
    ("a b c d", "a c", 2 * (2 / 4) * 1.0 / (2 / 4 + 1.0)),  # LCS 2: precision 1/2, recall 1
    ("the cat sat on the mat", "the cat on the mat", 2 * (5 / 6) * 1.0 / (5 / 6 + 1.0)),
])
def test_rouge_l_is_the_lcs_f1_over_words(candidate, reference, expected):
    assert rouge_l(candidate, reference) == pytest.approx(expected)


def test_score_averages_structure_recall_and_rouge():
    scores = score(["cook pasta", "cook rice"], [ONE_LINE, "rice"], [ONE_LINE, ONE_LINE])
    assert scores.structure_rate == 0.5
    assert scores.content_recall == pytest.approx((1.0 + 0.5) / 2)
    assert scores.to_dict()["count"] == 2
    with pytest.raises(ValueError):
        score(["a"], [], ["a"])
