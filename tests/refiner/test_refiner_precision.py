"""The refiner's number formats: what ``auto`` means per device, what each format loads, and that int8 and bf16
keep the model's predictions (logits close to float32's; the held-out scores of a trained refiner are in the
benchmark, since this barely trained tiny model has near-ties that int8 can flip)."""

from __future__ import annotations

import json

import pytest
import torch

from comfyui_lora_lab.cli import main
from comfyui_lora_lab.engines.prompt_refiner.cache import ModelCache
from comfyui_lora_lab.engines.prompt_refiner.generation import DecodeSettings
from comfyui_lora_lab.engines.prompt_refiner.precision import resolve_precision
from comfyui_lora_lab.engines.prompt_refiner.runtime import load_refiner
from comfyui_lora_lab.engines.prompt_refiner.service import RouteSettings


@pytest.mark.parametrize("precision, device, expected", [
    ("auto", "cpu", "int8"), ("auto", "cuda", "fp32"), ("auto", "mps", "fp32"),
    ("fp32", "cpu", "fp32"), ("bf16", "cuda", "bf16"), ("int8", "cpu", "int8"),
])
def test_resolve_precision_per_device(precision, device, expected):
    assert resolve_precision(precision, device) == expected


@pytest.mark.parametrize("precision, device, message", [
    ("int8", "cuda", "precision 'int8' runs on the cpu only"),
    ("fp16", "cpu", "precision 'fp16' runs on a GPU only"),
])
def test_resolve_precision_refuses_with_the_reason(precision, device, message):
    with pytest.raises(ValueError, match=message):
        resolve_precision(precision, device)


def test_without_dynamic_quantisation_auto_takes_bf16_and_int8_is_refused(monkeypatch):
    from comfyui_lora_lab.engines.prompt_refiner import precision

    monkeypatch.setattr(precision, "int8_available", lambda: False)
    assert resolve_precision("auto", "cpu") == "bf16"
    with pytest.raises(ValueError, match="needs torch.ao.quantization.quantize_dynamic.*use bf16"):
        resolve_precision("int8", "cpu")


def test_route_settings_check_the_precision_for_their_device():
    assert RouteSettings(precision="bf16").precision == "bf16"
    with pytest.raises(ValueError, match="runs on the cpu only"):
        RouteSettings(device="cuda", precision="int8")


def _linear_kinds(model) -> set[str]:
    return {f"{type(module).__module__}.{type(module).__name__}" for module in model.modules()
            if type(module).__name__ == "Linear"}


def test_each_precision_loads_its_format_and_reports_it(tiny_models):
    loaded = {p: load_refiner(tiny_models.base, tiny_models.adapter, precision=p) for p in ("fp32", "bf16", "int8")}
    assert _linear_kinds(loaded["fp32"].model) == {"torch.nn.modules.linear.Linear"}
    assert next(loaded["bf16"].model.parameters()).dtype == torch.bfloat16
    assert _linear_kinds(loaded["int8"].model) == {"torch.ao.nn.quantized.dynamic.modules.linear.Linear"}
    assert load_refiner(tiny_models.base, tiny_models.adapter).precision == "int8"  # auto on the cpu
    settings = DecodeSettings(max_new_tokens=12)
    texts = {p: r.refine("create function", settings) for p, r in loaded.items()}
    assert {p: t.report()["precision"] for p, t in texts.items()} == {"fp32": "fp32", "bf16": "bf16", "int8": "int8"}
    assert texts["bf16"].raw == texts["fp32"].raw  # int8 moves near-ties of this barely trained model: see below


def test_int8_and_bf16_logits_stay_close_to_float32(tiny_models):
    models = {p: load_refiner(tiny_models.base, tiny_models.adapter, precision=p) for p in ("fp32", "bf16", "int8")}
    tokenizer = models["fp32"].tokenizer
    inputs = tokenizer(["Refine this prompt: plan a trip to japan"], return_tensors="pt", return_token_type_ids=False)
    decoder = torch.tensor([[0, 5, 9, 13, 21]])
    with torch.inference_mode():
        logits = {p: r.model(**inputs, decoder_input_ids=decoder).logits.float() for p, r in models.items()}
    reference = logits["fp32"]
    for precision in ("bf16", "int8"):
        error = (logits[precision] - reference).norm() / reference.norm()
        assert error < 0.05, f"{precision} logits differ from fp32 by {error:.3f} (relative)"
        assert torch.equal(logits[precision].argmax(-1), reference.argmax(-1))


def test_cache_keeps_one_model_per_concrete_precision(tiny_models):
    cache = ModelCache(capacity=3)
    int8 = cache.get(tiny_models.base, tiny_models.adapter, precision="int8")
    assert cache.get(tiny_models.base, tiny_models.adapter) is int8  # auto is int8 on the cpu
    fp32 = cache.get(tiny_models.base, tiny_models.adapter, precision="fp32")
    assert fp32 is not int8 and fp32.precision == "fp32"
    assert sorted(entry["precision"] for entry in cache.loaded()) == ["fp32", "int8"]


def test_cli_refine_takes_a_precision(tiny_models, capsys):
    assert main(["refiner", "refine", "create function", "--base", str(tiny_models.base), "--adapter",
                 str(tiny_models.adapter), "--max-new-tokens", "4", "--precision", "bf16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == "bf16"
