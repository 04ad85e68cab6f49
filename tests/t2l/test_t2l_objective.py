"""The objective is read where the diffusion model reads: the score on the read layer, the keep term on every padded
position (and the pooled vector where used), a conditioning budget the optimiser stays inside, and settings that
fail before the first step."""

from __future__ import annotations

import pytest
import torch

from t2l_helpers import tiny_sd15_dict

PROMPT = "a watercolor painting of a red fox sleeping under a cherry tree"


def _encoder(clip_model, layer=-1, normed=True):
    from comfyui_lora_lab.engines.text_to_lora.encoders import encoder_from_transformers

    return encoder_from_transformers("clip", clip_model, layer, normed)


def _scorer(clip_bundle, encoder, calibration, window=None, negatives=()):
    from comfyui_lora_lab.engines.text_to_lora.scorer import PromptScorer, ScoreWindow

    ids = clip_bundle.tokenizer.encode_text(PROMPT)
    return PromptScorer(encoder, clip_bundle.tokenizer.special, ids, calibration, window or ScoreWindow(77),
                        negatives)


def _random_lora(encoder, paths, rank=2, seed=1):
    generator = torch.Generator().manual_seed(seed)
    lora = {}
    for path in paths:
        out_features, in_features = encoder.weights[path + ".weight"].shape
        lora[path] = (torch.randn(rank, in_features, generator=generator),
                      torch.randn(out_features, rank, generator=generator), 1.0)
    return lora


def test_a_lora_above_the_read_layer_cannot_change_the_score_or_the_conditioning(clip_model, clip_bundle,
                                                                                   flat_calibration):
    encoder = _encoder(clip_model, layer=-2)  # 2 blocks: the model reads block 0's output (clip skip 2)
    scorer = _scorer(clip_bundle, encoder, flat_calibration)
    above = _random_lora(encoder, ["text_model.encoder.layers.1.self_attn.q_proj",
                                   "text_model.encoder.layers.1.self_attn.v_proj", "text_model.encoder.layers.1.mlp.fc1"])
    below = _random_lora(encoder, ["text_model.encoder.layers.0.self_attn.v_proj"])
    with torch.no_grad():
        base, moved_above, moved_below = scorer.terms(None), scorer.terms(above), scorer.terms(below)
    assert float(moved_above.nll) == float(base.nll)
    assert float(moved_above.change) == 0.0
    assert abs(float(moved_below.nll) - float(base.nll)) > 1e-3  # the same score does see a LoRA it reads


def test_the_config_gets_no_lora_above_the_read_layer(clip_model, clip_bundle, tiny_config):
    from comfyui_lora_lab.engines.text_to_lora.pipeline import EncoderBundle, prepare

    skip2 = EncoderBundle("clip_l", _encoder(clip_model, layer=-2), clip_bundle.tokenizer)
    assembly, _ = prepare(skip2, tiny_config)
    assert [slot.layer for slot in assembly.slots] == [0, 0]
    full, _ = prepare(clip_bundle, tiny_config)
    assert sorted({slot.layer for slot in full.slots}) == [0, 1]


def test_padding_positions_are_in_the_keep_term(clip_model, clip_bundle, flat_calibration):
    encoder = clip_bundle.encoder
    scorer = _scorer(clip_bundle, encoder, flat_calibration)
    content = len(clip_bundle.tokenizer.encode_text(PROMPT)) + 2
    assert scorer.positions == 77 and scorer.base_conditioning.shape[0] == 77
    assert scorer.inputs[0, content:].eq(clip_bundle.tokenizer.special.eos).all()  # SD1.5 pads with the end token
    lora = _random_lora(encoder, ["text_model.encoder.layers.0.self_attn.v_proj"], seed=3)
    with torch.no_grad():
        change = float(scorer.terms(lora).change)
        moved = encoder.forward(scorer.inputs, lora).conditioning[0]
    delta, base = moved - scorer.base_conditioning, scorer.base_conditioning
    assert change == pytest.approx(float(delta.norm() / base.norm()), rel=1e-5)
    after_end = float(delta[content:].norm())
    assert after_end > 0.5 * float(delta[:content].norm())  # padding moves as much: it must be (and is) counted
    unpadded = float(delta[:content].norm() / base[:content].norm())
    assert change != pytest.approx(unpadded, rel=1e-3)


def test_the_pooled_vector_is_kept_when_the_model_uses_it(clip_bundle, flat_calibration):
    from comfyui_lora_lab.engines.text_to_lora.scorer import ScoreWindow

    lora = _random_lora(clip_bundle.encoder, ["text_model.encoder.layers.1.self_attn.v_proj"], seed=4)
    used = _scorer(clip_bundle, clip_bundle.encoder, flat_calibration, ScoreWindow(77, None, True))
    unused = _scorer(clip_bundle, clip_bundle.encoder, flat_calibration, ScoreWindow(77, None, False))
    with torch.no_grad():
        assert float(used.terms(lora).pooled_change) > 0
        assert float(unused.terms(lora).pooled_change) == 0


def _optimise(clip_bundle, tiny_config, flat_calibration, **settings):
    from comfyui_lora_lab.engines.text_to_lora.optimiser import OptimiseConfig, optimise
    from comfyui_lora_lab.engines.text_to_lora.pipeline import prepare
    from comfyui_lora_lab.engines.text_to_lora.scorer import negative_orders

    assembly, _ = prepare(clip_bundle, tiny_config)
    ids = clip_bundle.tokenizer.encode_text(PROMPT)
    scorer = _scorer(clip_bundle, clip_bundle.encoder, flat_calibration, negatives=negative_orders(ids, 0, 1))
    config = OptimiseConfig(**({"steps": 15, "learning_rate": 3e-3} | settings))
    return optimise(scorer, assembly, assembly.initial(0), config), scorer, assembly


def test_the_optimiser_stays_inside_the_budget_and_still_lowers_the_nll(clip_bundle, tiny_config, flat_calibration):
    result, scorer, assembly = _optimise(clip_bundle, tiny_config, flat_calibration, budget=0.02, keep_weight=0.0)
    assert max(result.drift) <= 0.02 and result.final_drift <= 0.02
    with torch.no_grad():
        final = scorer.terms(assembly.lora_params(result.flat))
    assert float(final.conditioning_change) <= 0.02
    assert result.final_nll < result.nll[0]


def test_a_learning_rate_that_leaves_the_budget_is_backed_off_with_a_message(clip_bundle, tiny_config,
                                                                          flat_calibration):
    result, _, _ = _optimise(clip_bundle, tiny_config, flat_calibration, learning_rate=1.0, budget=0.02, steps=6)
    assert result.learning_rate < 1.0
    assert result.warnings and "backed off" in result.warnings[0] and "budget 0.02" in result.warnings[0]
    assert result.final_drift <= 0.02


def test_a_learning_rate_that_cannot_be_backed_off_enough_is_refused(clip_bundle, tiny_config, flat_calibration):
    from comfyui_lora_lab.engines.text_to_lora.optimiser import BudgetError

    with pytest.raises(BudgetError, match="lower the learning rate"):
        _optimise(clip_bundle, tiny_config, flat_calibration, learning_rate=10.0, budget=0.001, max_backoffs=0)


def test_negative_orders_never_use_the_reported_controls_order():
    from comfyui_lora_lab.engines.text_to_lora.scorer import negative_orders
    from comfyui_lora_lab.engines.text_to_lora.text import shuffled

    ids = tuple(range(10, 22))
    negatives = negative_orders(ids, 5, 3)
    assert len(negatives) == 3 and shuffled(ids, 5) not in negatives and ids not in negatives
    assert all(sorted(n) == sorted(ids) for n in negatives)


class _Calls:
    def __init__(self):
        self.calls = []

    def __call__(self, *args):
        self.calls.append(args)


@pytest.mark.parametrize("change, message", [
    ({"family": "unknown", "encoders": "bert"}, "cannot be written"),
    ({"device": "cuda:0"}, "not available"),
    ({"device": "tpu"}, "device must be"),
    ({"precision": "float16"}, "float16 is for GPUs"),
])
def test_bad_settings_fail_before_the_first_step(clip_bundle, tiny_config, store, change, message):
    from dataclasses import replace

    from comfyui_lora_lab.engines.text_to_lora.config import ConfigError
    from comfyui_lora_lab.engines.text_to_lora.pipeline import T2LRequest, run

    config = tiny_config
    if "family" in change:
        encoder = replace(config.encoders[0], component="bert")
        config = replace(config, family="unknown", encoders=(encoder,))
        bundles = [replace(clip_bundle, component="bert")]
    else:
        bundles = [clip_bundle]
    settings = {k: v for k, v in change.items() if k in ("device", "precision")}
    progress = _Calls()
    with pytest.raises(ConfigError, match=message):
        run(T2LRequest(PROMPT, config, store=store, **settings), bundles, progress)
    assert progress.calls == []  # no calibration, no step


def test_a_config_for_another_model_fails_before_the_first_step(clip_bundle, store):
    from comfyui_lora_lab.engines.text_to_lora.config import ConfigError, config_from_dict
    from comfyui_lora_lab.engines.text_to_lora.pipeline import T2LRequest, run

    raw = tiny_sd15_dict()
    raw["encoders"][0]["hidden_size"] = 64
    progress = _Calls()
    with pytest.raises(ConfigError, match="hidden_size=64"):
        run(T2LRequest(PROMPT, config_from_dict(raw), store=store), [clip_bundle], progress)
    assert progress.calls == []


def test_read_layer_settings_are_validated():
    from comfyui_lora_lab.engines.text_to_lora.config import ConfigError, config_from_dict

    raw = tiny_sd15_dict()
    raw["encoders"][0]["conditioning_layer"] = -3  # the tiny CLIP has 2 blocks
    with pytest.raises(ConfigError, match="conditioning_layer must be an integer from -2 to -1"):
        config_from_dict(raw)


def test_causal_negatives_are_scored_on_rows_cut_after_their_last_read_position(clip_bundle, flat_calibration):
    """The other orders' rows stop at their last read position (a causal state never sees later positions): the
    scores equal those of the full padded rows."""
    import torch.nn.functional as F

    from comfyui_lora_lab.engines.text_to_lora.scorer import negative_orders

    ids = clip_bundle.tokenizer.encode_text(PROMPT)
    scorer = _scorer(clip_bundle, clip_bundle.encoder, flat_calibration, negatives=negative_orders(ids, 0, 3))
    lora = _random_lora(clip_bundle.encoder, ["text_model.encoder.layers.0.self_attn.v_proj"], seed=3)
    with torch.no_grad():
        terms = scorer.terms(lora)
        full = clip_bundle.encoder.forward(scorer.inputs, lora, scorer.pooled_index, need_pooled=False).conditioning
        states = full[scorer.read_rows, scorer.read_positions]
        losses = F.cross_entropy(flat_calibration.logits(states, clip_bundle.encoder.readout), scorer.all_targets,
                                 reduction="none")
    count = len(ids)
    assert scorer._read_length == count < scorer.positions
    assert float(terms.nll) == pytest.approx(float(losses[:count].mean()), abs=1e-5)
    assert float(terms.nll_negative) == pytest.approx(float(losses[count:].mean()), abs=1e-5)


def test_each_step_scores_one_other_order_in_turn_and_its_gain_is_penalised(clip_bundle, flat_calibration):
    """``negative=t`` scores the prompt and order ``t mod negatives`` only; the gain is measured from that order's
    own unmodified NLL, so an unmodified encoder has no gain on any of them."""
    from comfyui_lora_lab.engines.text_to_lora.scorer import negative_orders

    ids = clip_bundle.tokenizer.encode_text(PROMPT)
    scorer = _scorer(clip_bundle, clip_bundle.encoder, flat_calibration, negatives=negative_orders(ids, 0, 3))
    lora = _random_lora(clip_bundle.encoder, ["text_model.encoder.layers.0.self_attn.q_proj"], seed=4)
    with torch.no_grad():
        every = [scorer.terms(lora, negative=step) for step in range(3)]
        assert [float(scorer.terms(None, negative=step).negative_gain) for step in range(3)] == [0.0, 0.0, 0.0]
        wrapped = scorer.terms(lora, negative=4)
        together = scorer.terms(lora)
    assert len(scorer.base_negative_nlls) == 3
    assert float(wrapped.nll_negative) == pytest.approx(float(every[1].nll_negative), abs=1e-6)
    assert len({round(float(t.nll_negative), 5) for t in every}) == 3  # three different orders
    mean_gain = sum(float(t.negative_gain) for t in every) / 3
    assert float(together.negative_gain) == pytest.approx(mean_gain, abs=1e-5)
    assert all(float(t.nll) == pytest.approx(float(together.nll), abs=1e-5) for t in every)
