"""Target configs: presets load, and every way a config can be wrong (or for another model) is a named error."""

from __future__ import annotations

import json

import pytest

from comfyui_lora_lab.engines.text_to_lora.config import (ConfigError, LoadedEncoderFacts, config_from_dict, load_config,
                                                 preset_names, validate_against)
from comfyui_lora_lab.engines.text_to_lora.encoders import linear_shapes
from t2l_helpers import tiny_sd15_dict

PRESET_ENCODERS = {"sd15": ["clip_l"], "sdxl": ["clip_l", "clip_g"], "sd3": ["clip_l", "clip_g", "t5xxl"],
                   "flux": ["clip_l", "t5xxl"], "minilm": ["bert"]}


@pytest.mark.parametrize("name, components", PRESET_ENCODERS.items())
def test_presets_load_with_their_encoders(name, components):
    config = load_config(name)
    assert [e.component for e in config.encoders] == components
    assert config.to_json()["name"] == name and config_from_dict(config.to_json()) == config


def test_every_preset_file_is_listed():
    assert set(preset_names()) == set(PRESET_ENCODERS)


def _facts(encoder):
    return LoadedEncoderFacts(encoder.hidden_size, encoder.num_layers, encoder.vocab_size, linear_shapes(encoder.weights))


def test_validation_selects_the_targeted_modules_in_layer_order(clip_bundle, tiny_config):
    paths = validate_against(tiny_config.encoders[0], _facts(clip_bundle.encoder))
    assert paths == ["text_model.encoder.layers.0.self_attn.q_proj", "text_model.encoder.layers.0.self_attn.v_proj",
                     "text_model.encoder.layers.1.self_attn.q_proj", "text_model.encoder.layers.1.self_attn.v_proj"]


def _edit(change):
    raw = tiny_sd15_dict()
    change(raw, raw["encoders"][0])
    return raw


LOADED_MISMATCHES = [
    ("real sd15 preset", lambda raw, e: raw.update(load_config("sd15").to_json()), "hidden_size=768.*has 32"),
    ("pattern matches nothing", lambda raw, e: e.update(target_layers=["text_model.encoder.layers.*.attn.q"],
                                                        layer_dimensions={"attn.q": [32, 32]}),
     "matches no module"),
    ("dimension differs", lambda raw, e: e.update(layer_dimensions={"self_attn.q_proj": [32, 64],
                                                                    "self_attn.v_proj": [32, 32]}),
     r"layer 'text_model.encoder.layers.0.self_attn.q_proj' should be .*\(32, 64\) but is \(32, 32\)"),
    ("layer count differs", lambda raw, e: e.update(num_layers=12), "num_layers=12"),
]


@pytest.mark.parametrize("case, change, message", LOADED_MISMATCHES, ids=[c[0] for c in LOADED_MISMATCHES])
def test_a_config_that_does_not_fit_the_loaded_encoder_names_the_problem(clip_bundle, case, change, message):
    config = config_from_dict(_edit(change))
    with pytest.raises(ConfigError, match=message):
        validate_against(config.encoders[0], _facts(clip_bundle.encoder))


MALFORMED = [
    ("rank 0", lambda raw, e: raw.update(lora_rank=0), "lora_rank must be a positive integer"),
    ("rank above width", lambda raw, e: raw.update(lora_rank=33), "larger than the layer width 32"),
    ("unknown kind", lambda raw, e: e.update(kind="gpt"), "kind must be one of"),
    ("unknown component", lambda raw, e: e.update(component="clip_x"), "component must be one of"),
    ("no targets", lambda raw, e: e.update(target_layers=[]), "target_layers is empty"),
    ("target without dims", lambda raw, e: e.update(target_layers=["*.fc1"]), "no entry in layer_dimensions"),
    ("bidirectional without mask", lambda raw, e: e.update(kind="t5"), "needs mask_token"),
    ("unknown field", lambda raw, e: raw.update(lora_rnak=4), "unknown field"),
    ("negative width", lambda raw, e: e.update(hidden_size=-1), "hidden_size must be a positive integer"),
    ("no encoders", lambda raw, e: raw.update(encoders=[]), "encoders is empty"),
    ("bad conditioning layer", lambda raw, e: e.update(conditioning_layer=3), "conditioning_layer must be"),
]


@pytest.mark.parametrize("case, change, message", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_configs_are_refused(case, change, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(_edit(change))


def test_config_files_bad_json_too_big_and_unknown_presets(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"x": "y" * 300_000}))
    with pytest.raises(ConfigError, match="at most"):
        load_config(big)
    with pytest.raises(ConfigError, match="no preset named 'sd99'"):
        load_config("sd99")
    good = tmp_path / "tiny.json"
    good.write_text(json.dumps(tiny_sd15_dict()))
    assert load_config(good).encoders[0].hidden_size == 32


def test_with_rank_checks_the_rank_again():
    config = load_config("sd15")
    assert config.with_rank(8).lora_alpha == 8.0
    with pytest.raises(ConfigError, match="larger than the layer width 768"):
        config.with_rank(1000)
