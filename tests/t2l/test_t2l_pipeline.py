"""One prompt end to end on the tiny CLIP: pipeline, saved file, proposer start, corpus, bad input."""

from __future__ import annotations

import pytest
import torch

from comfyui_lora_lab.engines.lora_format import inspect_file, load_lora, read_header
from comfyui_lora_lab.engines.text_to_lora import corpus, output, pipeline
from comfyui_lora_lab.engines.text_to_lora.config import load_config
from comfyui_lora_lab.engines.text_to_lora.optimiser import OptimiseConfig

PROMPT = "a (watercolor:1.2) painting of a lighthouse at dawn"


def _request(config, store, steps=8, **extra):
    return pipeline.T2LRequest(PROMPT, config, OptimiseConfig(steps=steps, learning_rate=1e-2, seed=0), store,
                               precision="float32", **extra)


@pytest.fixture
def result(clip_bundle, tiny_config, store):
    return pipeline.run(_request(tiny_config, store), [clip_bundle])


def test_a_run_lowers_the_prompt_nll_and_scores_the_shuffled_control(result):
    report = result.reports[0]
    assert report.text == "a watercolor painting of a lighthouse at dawn"
    assert report.nll_after < report.nll_base and report.nll_start == pytest.approx(report.nll_base)
    assert report.nll_drop == pytest.approx((report.nll_base - report.nll_after) / report.nll_base)
    assert report.control_nll_base > 0 and report.steps_run == 8 and len(report.curve) == 9
    assert report.proposer == "none" and any("removed prompt syntax" in w for w in report.warnings)


def test_the_saved_file_is_kohya_with_the_run_in_its_metadata_and_never_overwrites(result, tmp_path):
    first = output.save_result(result, tmp_path / "loras", "demo")
    second = output.save_result(result, tmp_path / "loras", "demo")
    assert first != second and first.name.endswith("_00001.safetensors") and second.name.endswith("_00002.safetensors")
    assert first.name.startswith("demo_a_watercolor_painting_of_a_")  # the words, without the (…:1.2) syntax
    summary = inspect_file(first)
    assert (summary.layout, summary.family, summary.rank) == ("kohya", "sd15", 4)
    header = read_header(first)
    assert all(key.startswith("lora_te_text_model_encoder_layers_") for key in header.shapes)
    assert len(header.shapes) == 2 * 2 * 3  # 2 layers x q,v x down/up/alpha
    lab = {k: v for k, v in header.metadata.items() if "t2l." in k}
    assert PROMPT in str(lab) and "control_gap" in str(lab) and "score_before" in str(lab)
    loaded = load_lora(first).weights.modules
    for key, module in result.weights.modules.items():
        assert torch.equal(loaded[key].up, module.up) and torch.equal(loaded[key].down, module.down)


def test_a_config_for_another_model_names_the_missing_encoder(clip_bundle, store):
    with pytest.raises(ValueError, match="clip_g"):
        pipeline.run(_request(load_config("sdxl"), store), [clip_bundle])


@pytest.mark.slow
def test_a_trained_proposer_starts_the_run_and_is_checked_against_the_encoder(clip_bundle, tiny_config, store,
                                                                              flat_calibration, tmp_path):
    from comfyui_lora_lab.engines.text_to_lora.proposer import ProposerSpec, load_proposer, save_proposer
    from comfyui_lora_lab.engines.text_to_lora.proposer_train import TrainConfig, corpus_prompts, train_proposer

    assembly, _ = pipeline.prepare(clip_bundle, tiny_config)
    prompts = corpus_prompts(corpus.generate(8, "train"), clip_bundle.encoder, clip_bundle.encoder,
                             clip_bundle.tokenizer, 75, flat_calibration)
    spec = ProposerSpec("clip_l", tiny_config.name, flat_calibration.fingerprint, clip_bundle.encoder.hidden_size,
                        assembly.rank, assembly.alpha,
                        tuple((s.path, s.in_features, s.out_features) for s in assembly.slots))
    config = TrainConfig(rounds=3, prompts_per_round=6, validation_prompts=2, inner_steps=3, epochs=20, latent=16,
                         head_in=16)
    proposer, history = train_proposer(spec, prompts, OptimiseConfig(steps=50, learning_rate=1e-2, budget=1.0),
                                       config)  # a budget the random tiny CLIP never reaches: tests the mechanics
    # The point of the training: the same few optimiser steps get further from the learnt proposals.
    assert len(history.validation_nll) == 4 and history.best_round > 0
    assert history.validation_nll[history.best_round] < history.validation_nll[0]
    path = save_proposer(tmp_path / "proposer.safetensors", proposer, history.summary())
    report = pipeline.run(_request(tiny_config, store, proposers={"clip_l": str(path)}), [clip_bundle]).reports[0]
    assert report.proposer == "proposer.safetensors" and report.proposal_norm > 0
    assert report.nll_start != pytest.approx(report.nll_base)
    with pytest.raises(ValueError, match="trained for encoder"):
        load_proposer(path, assembly, "another-fingerprint")


def test_the_corpus_is_deterministic_with_disjoint_splits():
    train, held = corpus.generate(50, "train"), corpus.generate(50, "heldout")
    assert train == corpus.generate(50, "train") and len(set(train)) == 50 == len(set(held))
    assert not set(train) & set(held)
    with pytest.raises(ValueError, match="unknown corpus split"):
        corpus.generate(3, "nope")
