"""The score reads only what it may (never a token's own unmasked position), the optimiser is deterministic and
stops on NaN/inf, tolerance and time, and a calibration is fitted, stored and checked."""

from __future__ import annotations

import math

import pytest
import torch

from comfyui_lora_lab.engines.text_to_lora import calibration as calib
from comfyui_lora_lab.engines.text_to_lora.assembler import build_assembly
from comfyui_lora_lab.engines.text_to_lora.encoders import linear_shapes
from comfyui_lora_lab.engines.text_to_lora.encoders.base import SpecialTokens
from comfyui_lora_lab.engines.text_to_lora.optimiser import NonFiniteError, OptimiseConfig, optimise
from comfyui_lora_lab.engines.text_to_lora.scorer import PromptScorer, ScoreWindow, collect_states

WIDE = 1.0  # a budget the mechanics tests never reach

PATHS = [f"text_model.encoder.layers.{i}.self_attn.{m}" for i in range(2) for m in ("q_proj", "v_proj")]


@pytest.fixture
def assembly(clip_bundle):
    return build_assembly("clip_l", PATHS, linear_shapes(clip_bundle.encoder.weights), 4, 4.0)


@pytest.fixture
def scorer(clip_bundle, flat_calibration):
    ids = clip_bundle.tokenizer.encode_text("a red fox sleeping under a cherry tree")
    return PromptScorer(clip_bundle.encoder, clip_bundle.tokenizer.special, ids, flat_calibration,
                        ScoreWindow(0, None, True))


def test_causal_score_reads_position_i_to_predict_token_i_plus_1(scorer):
    assert scorer.inputs.shape == (1, len(scorer.ids) + 2)
    assert scorer.read_positions.tolist() == list(range(len(scorer.ids)))  # BOS predicts the first token...
    assert scorer.inputs[0, scorer.read_positions + 1].tolist() == scorer.ids  # ...never its own position


def test_masked_score_reads_each_token_at_its_masked_position(clip_bundle, flat_calibration):
    from comfyui_lora_lab.engines.text_to_lora.encoders.bert import from_transformers
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = from_transformers(BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                  num_attention_heads=2, intermediate_size=32)).eval())
    special = SpecialTokens(bos=1, eos=2, mask=3)
    identity = calib.Calibration(1.0, torch.zeros(50))
    masked = PromptScorer(bert, special, [10, 11, 12], identity)
    assert masked.inputs.tolist() == [[1, 3, 11, 12, 2], [1, 10, 3, 12, 2], [1, 10, 11, 3, 2], [1, 10, 11, 12, 2]]
    assert masked.read_positions.tolist() == [1, 2, 3] and masked.clean_row == 3


def test_optimising_lowers_the_nll_and_is_deterministic(scorer, assembly):
    config = OptimiseConfig(steps=15, learning_rate=1e-2, keep_weight=1.0, seed=3, budget=WIDE)
    first = optimise(scorer, assembly, assembly.initial(3), config)
    second = optimise(scorer, assembly, assembly.initial(3), config)
    assert first.nll == second.nll and torch.equal(first.flat, second.flat)
    assert first.final_nll < 0.9 * first.nll[0] and first.steps_run == 15 and first.stopped == "steps"
    assert first.nll[0] == pytest.approx(scorer.nll(), rel=1e-6)  # B = 0 starts at the unmodified score


def test_the_keep_term_holds_the_states(scorer, assembly):
    loose = optimise(scorer, assembly, assembly.initial(0), OptimiseConfig(steps=15, keep_weight=0.0, budget=WIDE))
    tight = optimise(scorer, assembly, assembly.initial(0), OptimiseConfig(steps=15, keep_weight=50.0, budget=WIDE))
    assert tight.final_drift < loose.final_drift and tight.final_pooled_cos > loose.final_pooled_cos


def test_weight_decay_shrinks_the_delta(scorer, assembly):
    plain = optimise(scorer, assembly, assembly.initial(0), OptimiseConfig(steps=10, budget=WIDE))
    decayed = optimise(scorer, assembly, assembly.initial(0), OptimiseConfig(steps=10, weight_decay=10.0, budget=WIDE))
    assert assembly.delta_norms(decayed.flat).sum() < assembly.delta_norms(plain.flat).sum()


def test_tolerance_and_time_budget_stop_early(scorer, assembly):
    converged = optimise(scorer, assembly, assembly.initial(0), OptimiseConfig(steps=200, tolerance=0.5, patience=2))
    assert converged.stopped == "tolerance" and converged.steps_run < 200
    timed = optimise(scorer, assembly, assembly.initial(0), OptimiseConfig(steps=200, time_budget_s=1e-6))
    assert timed.stopped == "time" and timed.steps_run == 1


def test_nan_stops_the_run_with_a_clear_error(clip_bundle, assembly):
    broken = calib.Calibration(1.0, torch.full((clip_bundle.encoder.vocab_size,), float("nan")))
    scorer = PromptScorer(clip_bundle.encoder, clip_bundle.tokenizer.special, [320, 1125], broken)
    with pytest.raises(NonFiniteError, match="NaN/inf at step 1"):
        optimise(scorer, assembly, assembly.initial(0), OptimiseConfig(steps=5))


def test_inf_parameters_stop_the_run(scorer, assembly):
    start = assembly.initial(0)
    start[-1] = float("inf")
    with pytest.raises(NonFiniteError):
        optimise(scorer, assembly, start, OptimiseConfig(steps=5))


@pytest.mark.parametrize("field, value, message", [
    ("steps", -1, "steps must be in"), ("learning_rate", 0.0, "learning_rate must be in"),
    ("keep_weight", float("nan"), "keep_weight must be a number"), ("steps", 2.5, "steps must be an integer"),
    ("tolerance", 2.0, "tolerance must be in"), ("seed", True, "seed must be a number"),
])
def test_optimiser_settings_are_validated(field, value, message):
    with pytest.raises(ValueError, match=message):
        OptimiseConfig(**{field: value})


def test_calibration_fit_beats_the_raw_readout_and_round_trips(tmp_path, clip_bundle):
    from comfyui_lora_lab.engines.text_to_lora.corpus import generate

    sequences = [clip_bundle.tokenizer.encode_text(p) for p in generate(40, "calibration")]
    states, targets = collect_states(clip_bundle.encoder, clip_bundle.tokenizer.special, sequences, 240)
    assert states.shape == (240, 32) and targets.shape == (240,)
    fitted = calib.fit_calibration(clip_bundle.encoder, states, targets, "auto", map_steps=20)
    assert fitted.nll_calibrated < fitted.nll_raw
    assert fitted.temperature <= float((states[:192] @ clip_bundle.encoder.readout.T).std()) * 1.0001 or \
        fitted.mode == "linear"
    path = calib.save_calibration(tmp_path / "c.calibration.safetensors", fitted)
    loaded = calib.load_calibration(path, clip_bundle.encoder)
    assert loaded.temperature == fitted.temperature and torch.equal(loaded.bias, fitted.bias)
    assert loaded.mode == fitted.mode and math.isclose(loaded.nll_calibrated, fitted.nll_calibrated)


def test_a_calibration_for_another_model_is_refused(tmp_path, clip_bundle, flat_calibration):
    from comfyui_lora_lab.engines import tiny_models
    from comfyui_lora_lab.engines.text_to_lora.encoders import encoder_from_transformers
    from t2l_helpers import TINY_CLIP

    path = calib.save_calibration(tmp_path / "c.calibration.safetensors", flat_calibration)
    other = encoder_from_transformers("clip", tiny_models.clip_text_model(TINY_CLIP, seed=1))
    with pytest.raises(ValueError, match="was fitted for model"):
        calib.load_calibration(path, other)
    with pytest.raises(ValueError, match="calibration mode must be one of"):
        calib.fit_calibration(clip_bundle.encoder, torch.zeros(20, 32), torch.zeros(20, dtype=torch.long), "magic")
