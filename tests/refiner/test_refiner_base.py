"""The local base: tokenizer, denoising corruption, pre-training corpus, folder layout, fingerprint, frozen load."""

from __future__ import annotations

import json
import random

import pytest
from transformers import AutoTokenizer

from comfyui_lora_lab.engines.prompt_refiner.base_model import build_t5, load_base, save_base, weights_fingerprint
from comfyui_lora_lab.engines.prompt_refiner.local_base import LocalBaseConfig, corpus_from_pairs, pretraining_corpus
from comfyui_lora_lab.engines.prompt_refiner.local_tokenizer import train_tokenizer
from comfyui_lora_lab.engines.prompt_refiner.pretrain import PretrainConfig, corrupt, pretrain

FLAN_LAYOUT = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}


@pytest.fixture(scope="module")
def tokenizer(refiner_pairs):
    return train_tokenizer(corpus_from_pairs(refiner_pairs.train), 300)


def test_tokenizer_has_t5_special_ids_and_flattens_newlines(tokenizer, tmp_path):
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    ids = tokenizer("Task: plan\nSteps:")["input_ids"]
    assert ids[-1] == 1 and ids == tokenizer("Task: plan Steps:")["input_ids"]
    tokenizer.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)("Task: plan")["input_ids"] == tokenizer("Task: plan")["input_ids"]
    with pytest.raises(ValueError, match="at least 300"):
        train_tokenizer(["a b"], 100)


@pytest.mark.parametrize("ratio,sentinel", [(0.0, 9), (0.5, None), (0.5, 9), (0.95, None)])
def test_corruption_removes_about_the_ratio_and_keeps_the_end(ratio, sentinel):
    ids = list(range(10, 50)) + [1]
    out = corrupt(ids, ratio, 3.0, sentinel, random.Random(0))
    kept = [t for t in out[:-1] if t != sentinel]
    assert out[-1] == 1 and kept == [t for t in ids[:-1] if t in kept]  # order kept, nothing invented
    assert len(ids) - 1 - len(kept) == round(ratio * 40)
    assert (sentinel in out) is (sentinel is not None and ratio > 0)


def test_pretraining_corpus_adds_unpaired_documents_and_never_a_held_out_text(refiner_pairs):
    config = LocalBaseConfig(extra_documents=400, corpus_seed=0)  # the pairs' own seed: overlaps on purpose
    corpus = pretraining_corpus(refiner_pairs, config)
    held_out = {" ".join(t.lower().split()) for t in corpus_from_pairs(refiner_pairs.held_out)}
    assert not held_out & {" ".join(t.lower().split()) for t in corpus}
    assert set(corpus_from_pairs(refiner_pairs.train)) <= set(corpus) and len(corpus) > 300
    assert corpus == pretraining_corpus(refiner_pairs, config)


def test_base_folder_has_the_flan_t5_layout_and_loads_frozen(tiny_models):
    assert FLAN_LAYOUT <= {p.name for p in tiny_models.base.iterdir()}
    config = json.loads((tiny_models.base / "config.json").read_text())
    assert (config["model_type"], config["pad_token_id"], config["eos_token_id"], config["decoder_start_token_id"]) \
        == ("t5", 0, 1, 0)
    base = load_base(tiny_models.base)
    assert not any(p.requires_grad for p in base.model.parameters()) and not base.model.training
    assert base.signature["d_model"] == 32 and len(base.fingerprint) == 64


def test_fingerprint_tells_apart_equal_shapes_with_other_weights(tokenizer, tmp_path):
    folders = [save_base(build_t5("tiny", len(tokenizer), seed), tokenizer, tmp_path / f"base{index}")
               for index, seed in enumerate((0, 0, 1))]
    prints = [weights_fingerprint([folder / "model.safetensors"]) for folder in folders]
    assert prints[0] == prints[1] != prints[2]
    with pytest.raises(FileExistsError, match="not empty"):
        save_base(build_t5("tiny", len(tokenizer)), tokenizer, folders[0])


def test_pretraining_lowers_the_denoising_loss(tokenizer, refiner_pairs):
    model = build_t5("tiny", len(tokenizer))
    losses = pretrain(model, tokenizer, corpus_from_pairs(refiner_pairs.train),
                      PretrainConfig(steps=40, batch_size=8, warmup_steps=5, learning_rate=1e-2))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 and not model.training


@pytest.mark.parametrize("kwargs", [dict(steps=0), dict(min_mask_ratio=0.5, max_mask_ratio=0.2),
                                    dict(deletion_share=2.0), dict(learning_rate=0)])
def test_pretrain_config_validates(kwargs):
    with pytest.raises(ValueError):
        PretrainConfig(**kwargs)


def test_local_base_config_validates():
    with pytest.raises(ValueError, match="shape"):
        LocalBaseConfig(shape="huge")
    with pytest.raises(ValueError, match="extra_documents"):
        LocalBaseConfig(extra_documents=-1)
