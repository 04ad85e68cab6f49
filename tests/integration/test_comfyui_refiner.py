"""Prompt Refiner inside a real ComfyUI: the example workflow runs through /prompt with a model trained by the
CLI, and the route answers under / and /api.

Setup before starting ComfyUI (models in the server's models/prompt_refiner):
    lora-lab refiner data --out pairs.json
    lora-lab refiner base --data pairs.json --out <ComfyUI>/models/prompt_refiner/local-t5
    lora-lab refiner train --base <ComfyUI>/models/prompt_refiner/local-t5 --data pairs.json \
        --out <ComfyUI>/models/prompt_refiner/prompt-refiner
"""

from __future__ import annotations

import json

import pytest

from comfyui_client import example_prompt, get_json, request, requires_comfyui, run_prompt

pytestmark = [pytest.mark.comfyui, requires_comfyui]
NODE = "LoRALabPromptRefiner"
SETUP = "put a base + adapter made by `lora-lab refiner base/train` in ComfyUI's models/prompt_refiner (see module doc)"


def _choices() -> tuple[list[str], list[str]]:
    required = get_json("/object_info")[NODE]["input"]["required"]
    return required["base_model"][1]["options"], required["adapter"][1]["options"]


def _refiner_prompt(**widgets) -> tuple[dict, str]:
    bases, adapters = _choices()
    assert bases and adapters, SETUP
    prompt = example_prompt("prompt_refiner.json", get_json("/object_info"))
    node_id = next(k for k, v in prompt.items() if v["class_type"] == NODE)
    prompt[node_id]["inputs"].update(base_model=bases[0], adapter=adapters[0], **widgets)
    return prompt, node_id


def test_node_is_registered_with_tooltips_and_the_trained_models():
    info = get_json("/object_info")[NODE]
    assert info["display_name"] == "Prompt Refiner"
    assert all(spec[1].get("tooltip") for spec in info["input"]["required"].values())
    bases, adapters = _choices()
    assert bases and adapters, SETUP


async def test_example_workflow_refines_and_shows_the_text_where_the_user_reads_it():
    prompt, node_id = _refiner_prompt(prompt="make a logo for a coffee shop")
    history = await run_prompt(prompt)
    summary = "\n".join(history["outputs"][node_id]["text"])
    assert " tokens in " in summary and "Act as" in summary, summary
    shown = {prompt[k]["inputs"]["source"][1]: k for k, v in prompt.items() if v["class_type"] == "PreviewAny"}
    report = json.loads(history["outputs"][shown[1]]["text"][0])
    assert report["device"] == "cpu" and report["intent"]["content_words"] == ["make", "logo", "coffee", "shop"]
    assert "Act as" in history["outputs"][shown[0]]["text"][0]  # the refined prompt, shown, not fed to CLIP
    assert all(v["class_type"] != "CLIPTextEncode" for v in prompt.values())


async def test_a_missing_adapter_is_refused_at_queue_time():
    prompt, node_id = _refiner_prompt()
    prompt[node_id]["inputs"]["adapter"] = "no-such-adapter"
    status, body = request("POST", "/prompt", {"prompt": prompt})
    assert status == 400
    assert "no-such-adapter" in json.dumps(body["node_errors"]) and "models/prompt_refiner" in json.dumps(body)


def test_route_answers_under_root_and_api_greedy_is_repeatable():
    answers = []
    for path in ("/prompt_refiner/refine", "/api/prompt_refiner/refine"):
        status, body = request("POST", path, {"prompt": "create function", "max_new_tokens": 200})
        assert status == 200, body
        assert body["refined"] and body["model"] and body["adapter"] and body["ms"] > 0
        answers.append(body["refined"])
    assert answers[0] == answers[1]


def test_route_bad_input_is_a_clear_400_and_models_are_listed():
    status, body = request("POST", "/api/prompt_refiner/refine", {"prompt": "  "})
    assert status == 400 and "prompt is empty" in body["error"]["message"]
    status, body = request("POST", "/api/prompt_refiner/refine", {"prompt": "x" * 100_000})
    assert status == 413
    models = get_json("/api/prompt_refiner/models")
    assert models["configured"] and models["bases"] and models["adapters"]
