"""Missing, corrupt and mismatched models are clear errors that say where to put what; a good model keeps working."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from comfyui_lora_lab.engines.prompt_refiner.adapter_files import ADAPTER_CONFIG, ADAPTER_WEIGHTS, TRAINING_INFO
from comfyui_lora_lab.engines.prompt_refiner.cache import ModelCache
from comfyui_lora_lab.engines.prompt_refiner.errors import AdapterMismatchError, ModelUnavailableError
from comfyui_lora_lab.engines.prompt_refiner.generation import DecodeSettings
from comfyui_lora_lab.engines.prompt_refiner.runtime import load_refiner
from comfyui_lora_lab.engines.prompt_refiner.training import TrainConfig, train_adapter


def _edit_json(path, **changes):
    body = json.loads(path.read_text())
    body.update(changes)
    path.write_text(json.dumps(body))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-100])


def _garbage(path):
    path.write_bytes(b"\x00\x01 this is not a safetensors file")


def _drop_a_tensor(path):
    tensors = load_file(str(path))
    tensors.pop(sorted(tensors)[0])
    save_file(tensors, str(path))


# (what to break, how, what the error must say)
ADAPTER_DAMAGE = [
    ("adapter", lambda m: shutil.rmtree(m.adapter), "adapter folder .* does not exist"),
    ("config", lambda m: (m.adapter / ADAPTER_CONFIG).unlink(), "adapter config .* is missing"),
    ("config", lambda m: (m.adapter / ADAPTER_CONFIG).write_bytes(b"{not json"), "not valid UTF-8 JSON"),
    ("config", lambda m: _edit_json(m.adapter / ADAPTER_CONFIG, peft_type="IA3"), "expected 'LORA'"),
    ("config", lambda m: _edit_json(m.adapter / ADAPTER_CONFIG, r=0), "r must be an integer"),
    ("config", lambda m: _edit_json(m.adapter / ADAPTER_CONFIG, use_dora=True), "use_dora, which the refiner does not"),
    ("config", lambda m: _edit_json(m.adapter / ADAPTER_CONFIG, target_modules=["nope"]), "does not fit base"),
    ("weights", lambda m: (m.adapter / ADAPTER_WEIGHTS).unlink(), "has no adapter_model.safetensors"),
    ("weights", lambda m: (m.adapter / ADAPTER_WEIGHTS).rename(m.adapter / "adapter_model.bin"), "pickle file"),
    ("weights", lambda m: _truncate(m.adapter / ADAPTER_WEIGHTS), "adapter weights are unreadable"),
    ("weights", lambda m: _garbage(m.adapter / ADAPTER_WEIGHTS), "adapter weights are unreadable"),
    ("weights", lambda m: _drop_a_tensor(m.adapter / ADAPTER_WEIGHTS), "1 missing, 0 unexpected"),
    ("info", lambda m: (m.adapter / TRAINING_INFO).write_text("[]"), "must hold a JSON object"),
]

BASE_DAMAGE = [
    (lambda m: shutil.rmtree(m.base), "base model folder .* does not exist"),
    (lambda m: (m.base / "config.json").unlink(), "has no config.json"),
    (lambda m: _edit_json(m.base / "config.json", model_type="bert"), "model_type 'bert'"),
    (lambda m: (m.base / "model.safetensors").rename(m.base / "pytorch_model.bin"), "pickle files are never loaded"),
    (lambda m: (m.base / "tokenizer.json").unlink(), "no tokenizer.json or spiece.model"),
    (lambda m: _garbage(m.base / "model.safetensors"), "not a valid safetensors file"),
]


@pytest.mark.parametrize("part,damage,message", ADAPTER_DAMAGE, ids=[f"{d[0]}-{i}" for i, d in enumerate(ADAPTER_DAMAGE)])
def test_a_damaged_adapter_is_a_clear_error_and_the_good_model_stays_usable(models_copy, tiny_models, part, damage,
                                                                          message):
    cache = ModelCache()
    good = cache.get(tiny_models.base, tiny_models.adapter)
    damage(models_copy)
    with pytest.raises(ModelUnavailableError, match=message) as caught:
        cache.get(models_copy.base, models_copy.adapter)
    assert "models/prompt_refiner" in str(caught.value)  # says where to put what
    assert good.refine("create function", DecodeSettings(max_new_tokens=4)).new_tokens >= 1
    assert len(cache.loaded()) == 1


@pytest.mark.parametrize("damage,message", BASE_DAMAGE)
def test_a_damaged_base_is_a_clear_error(models_copy, damage, message):
    damage(models_copy)
    with pytest.raises(ModelUnavailableError, match=message):
        load_refiner(models_copy.base, models_copy.adapter)


def test_an_adapter_trained_for_another_base_is_refused(models_copy, refiner_pairs, tmp_path, base_maker):
    same_shape_other_weights = base_maker(tmp_path / "other-seed", refiner_pairs, seed=1)
    with pytest.raises(AdapterMismatchError, match="trained for base 'tiny-t5'.*different weights"):
        load_refiner(same_shape_other_weights, models_copy.adapter)
    other_shape = base_maker(tmp_path / "other-shape", refiner_pairs, shape="local")
    with pytest.raises(AdapterMismatchError, match="architecture differs"):
        load_refiner(other_shape, models_copy.adapter)


def test_an_adapter_without_training_info_is_still_checked_by_keys_and_shapes(models_copy, refiner_pairs, tmp_path,
                                                                            base_maker):
    other_shape = base_maker(tmp_path / "other-shape", refiner_pairs, shape="local")
    (models_copy.adapter / TRAINING_INFO).unlink()
    with pytest.raises(AdapterMismatchError, match="wrongly shaped"):
        load_refiner(other_shape, models_copy.adapter)
    assert load_refiner(models_copy.base, models_copy.adapter).prefix == "Refine this prompt: "


def test_training_on_a_missing_base_says_where_to_put_it(refiner_pairs, tmp_path):
    with pytest.raises(ModelUnavailableError, match="base model folder .* does not exist.*models/prompt_refiner"):
        train_adapter(tmp_path / "none", refiner_pairs, tmp_path / "ad", TrainConfig(epochs=1))
