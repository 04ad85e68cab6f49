"""The honest held-out split: unseen domains, personas and phrasings, and a pre-training corpus without the
held-out targets' sentences or near-copies (the overlap left is measured, not assumed)."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.engines.prompt_refiner import heldout
from comfyui_lora_lab.engines.prompt_refiner.data import DataConfig, generate_pairs
from comfyui_lora_lab.engines.prompt_refiner.local_base import corpus_from_pairs


@pytest.fixture(scope="module")
def split():
    return heldout.honest_split(120, 20, seed=0)


def _persona(pair) -> str:
    first = pair.structured.splitlines()[0]  # "Act as a <persona>."
    return first.removeprefix("Act as ").removeprefix("an ").removeprefix("a ").rstrip(".")


def test_held_out_pairs_use_only_what_training_never_sees(split):
    pairs, hold = split
    assert len(pairs.train) == 100 and len(pairs.held_out) == 20
    assert not {p.domain for p in pairs.train} & set(hold.domains)
    assert not {_persona(p) for p in pairs.train} & set(hold.personas)
    assert not set(hold.train_world.phrasings) & set(hold.test_world.phrasings)
    for pair in pairs.held_out:
        assert pair.domain in hold.domains or _persona(pair) in hold.personas
    assert {p.domain for p in pairs.held_out} & set(hold.domains)  # whole domains are really tested


def test_the_split_is_the_same_for_the_same_seed_and_differs_for_another(split):
    again, _ = heldout.honest_split(120, 20, seed=0)
    other, _ = heldout.honest_split(120, 20, seed=1)
    assert again.sha256() == split[0].sha256() != other.sha256()


def test_the_pretraining_corpus_keeps_no_held_out_sentence_or_near_copy(split):
    pairs, hold = split
    documents = corpus_from_pairs(pairs.train) + heldout.training_world_documents(hold, 600, seed=1000)
    documents += [pairs.held_out[0].structured, pairs.held_out[1].structured.replace("Act as", "Be")]
    assert heldout.max_overlap(pairs.held_out, documents) > 0.9  # the planted copies are seen ...
    kept = heldout.without_held_out(documents, pairs)
    assert heldout.max_overlap(pairs.held_out, kept) <= heldout.MAX_OVERLAP  # ... and removed
    banned = {s for p in pairs.held_out for s in heldout.sentences(p.structured)}
    assert not any(s in " ".join(doc.lower().split()) for doc in kept for s in banned)
    assert len(kept) > len(documents) // 4  # the filter removes copies, not the corpus


def test_a_random_pair_split_overlaps_far_more_than_the_honest_one():
    """Why the honest split exists: a random split's held-out targets nearly copy training texts."""
    pairs = generate_pairs(DataConfig(n=120, seed=0, held_out=20))
    assert heldout.max_overlap(pairs.held_out, corpus_from_pairs(pairs.train)) > 0.6


def test_jaccard_and_sentences():
    assert heldout.jaccard(heldout.words("a b c"), heldout.words("b c d")) == pytest.approx(0.5)
    assert heldout.sentences("Act as a chef.\nTask: Cook a stew. Ok.") == ["act as a chef.", "task: cook a stew."]
