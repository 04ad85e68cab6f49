"""Building one queued prompt per draft from an API-format template, and reading LoRAs back from a graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfyui_lora_lab.engines.explorer import api_prompt
from comfyui_lora_lab.engines.explorer.api_prompt import TemplateError
from comfyui_lora_lab.engines.store.generations import DraftPlan, LoraUse

TEMPLATE = json.loads((Path(__file__).parents[1] / "integration" / "txt2img_api.json").read_text())


def test_a_draft_prompt_sets_checkpoint_text_seed_and_the_save_node():
    prompt = api_prompt.draft_prompt(TEMPLATE, "batch1", DraftPlan(3, "b.safetensors", seed=42), "a red fox")
    assert prompt["4"]["inputs"]["ckpt_name"] == "b.safetensors"
    assert prompt["6"]["inputs"]["text"] == "a red fox" and prompt["7"]["inputs"]["text"] == "blurry"
    assert prompt["3"]["inputs"]["seed"] == 42
    assert prompt["9"] == {"class_type": "LoRALabSaveDrafts", "_meta": {"title": "Save Drafts"}, "inputs": {
        "images": ["8", 0], "batch_id": "batch1", "checkpoint_name": "b.safetensors", "first_index": 3,
        "filename_prefix": "lora_lab/draft"}}
    assert TEMPLATE["4"]["inputs"]["ckpt_name"] == "random_sd15.safetensors"  # the template is not modified


def test_a_lora_chain_is_inserted_after_the_checkpoint_and_read_back_in_order():
    loras = [LoraUse("style.safetensors", 0.7), LoraUse("light.safetensors", 0.5)]
    prompt = api_prompt.draft_prompt(TEMPLATE, "b", DraftPlan(0, "a.safetensors"), None, loras)
    first, second = prompt["lora_lab_lora_0"], prompt["lora_lab_lora_1"]
    assert first["inputs"]["model"] == ["4", 0] and first["inputs"]["clip"] == ["4", 1]
    assert second["inputs"]["model"] == ["lora_lab_lora_0", 0] and second["inputs"]["strength_clip"] == 0.5
    assert prompt["3"]["inputs"]["model"] == ["lora_lab_lora_1", 0]
    assert prompt["6"]["inputs"]["clip"] == ["lora_lab_lora_1", 1] and prompt["8"]["inputs"]["vae"] == ["4", 2]
    assert api_prompt.upstream_loras(prompt, "9") == tuple(loras)
    assert api_prompt.upstream_loras(TEMPLATE, "9") == ()


def _without(node_id):
    return {k: v for k, v in TEMPLATE.items() if k != node_id}


@pytest.mark.parametrize("template,match", [
    ({"nodes": [], "links": []}, "UI-format"),
    ([], "JSON object"),
    ({"1": {"class_type": "X"}}, "expected"),
    (_without("4") | {"x": {"class_type": "Y", "inputs": {}}}, "one checkpoint loader"),
    (TEMPLATE | {"40": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "b"}}}, "found 4 .*40"),
    (_without("9"), "image save node"),
    (TEMPLATE | {"3": {**TEMPLATE["3"], "inputs": {**TEMPLATE["3"]["inputs"], "positive": "text"}}}, "positive"),
])
def test_unusable_templates_are_refused_with_the_reason(template, match):
    with pytest.raises(TemplateError, match=match):
        api_prompt.draft_prompt(api_prompt.check_template(template), "b", DraftPlan(0, "a"), "text")


def test_upstream_loras_read_any_node_with_a_lora_name_and_strength():
    graph = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a"}},
             "2": {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": "x.safetensors",
                                                                   "strength_model": 0.8}},
             "3": {"class_type": "LoRALabInspect", "inputs": {"model": ["2", 0], "lora_name": ["99", 0],
                                                              "strength_model": 1.0}},
             "4": {"class_type": "KSampler", "inputs": {"model": ["3", 0]}},
             "5": {"class_type": "LoraLoader", "inputs": {"lora_name": "unused.safetensors", "strength_model": 1.0}},
             "6": {"class_type": "LoRALabSaveDrafts", "inputs": {"images": ["4", 0]}}}
    assert api_prompt.upstream_loras(graph, "6") == (LoraUse("x.safetensors", 0.8),)
