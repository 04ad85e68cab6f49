"""The pack inside a real ComfyUI: it loads, its node and routes are served, its example runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import torch
from safetensors.torch import save_file

from comfyui_client import (
    LOG, LORA, example_prompt, get_json, loras_dir, request, requires_comfyui, requires_comfyui_path, run_prompt,
)

pytestmark = [pytest.mark.comfyui, requires_comfyui]


def test_pack_imports_without_errors():
    if not LOG:
        pytest.skip("set COMFYUI_LOG to the server log to check import errors")
    lines = Path(LOG).read_text(errors="replace").splitlines()
    ours = [line for line in lines if "lora" in line.lower() and ("IMPORT FAILED" in line or "Cannot import" in line)]
    assert ours == []
    assert any("custom_nodes/" in line and "lora" in line.lower() for line in lines)


def test_node_is_registered_with_tooltips():
    info = get_json("/object_info")["LoRALabInspect"]
    assert info["display_name"] == "LoRA Inspect"
    assert LORA in info["input"]["required"]["lora_name"][1]["options"]
    assert all(spec[1].get("tooltip") for spec in info["input"]["required"].values())


def test_routes_answer_under_root_and_api():
    for path in ("/lora_lab/health", "/api/lora_lab/health"):
        status, body = request("GET", path)
        assert status == 200 and body["capabilities"]["inspect"]["available"]


def test_web_extension_is_served():
    assert any(entry.endswith("/lora_lab_reports.js") for entry in get_json("/extensions"))


async def test_example_workflow_runs_and_reports_zero_unmatched_keys():
    prompt = example_prompt("lora_inspect.json", get_json("/object_info"))
    history = await run_prompt(prompt)
    inspect_node = next(k for k, v in prompt.items() if v["class_type"] == "LoRALabInspect")
    text = "\n".join(history["outputs"][inspect_node]["text"])
    assert " 0 unmatched" in text, text
    assert "family sd15" in text
    images = [node for node in history["outputs"].values() if node.get("images")]
    assert images, "the workflow saved no image"


async def test_missing_lora_is_refused_at_queue_time():
    prompt = example_prompt("lora_inspect.json", get_json("/object_info"))
    node = next(v for v in prompt.values() if v["class_type"] == "LoRALabInspect")
    node["inputs"]["lora_name"] = "does_not_exist.safetensors"
    status, body = request("POST", "/prompt", {"prompt": prompt})
    assert status == 400
    assert "does_not_exist.safetensors" in json.dumps(body["node_errors"])


def _sdxl_lora_for_the_sd15_model(path: Path) -> None:
    tensors = {}
    for layer in range(2):
        stem = f"lora_te2_text_model_encoder_layers_{layer}_self_attn_q_proj"
        tensors[f"{stem}.lora_down.weight"] = torch.zeros(4, 1280)
        tensors[f"{stem}.lora_up.weight"] = torch.zeros(1280, 4)
        tensors[f"{stem}.alpha"] = torch.tensor(4.0)
    save_file(tensors, str(path), metadata={"ss_base_model_version": "sdxl_base_v1-0"})


async def _inspect_report(lora_name: str) -> str:
    prompt = example_prompt("lora_inspect.json", get_json("/object_info"))
    inspect_id = next(k for k, v in prompt.items() if v["class_type"] == "LoRALabInspect")
    prompt[inspect_id]["inputs"]["lora_name"] = lora_name
    history = await run_prompt(prompt)
    return "\n".join(history["outputs"][inspect_id]["text"])


@requires_comfyui_path
async def test_lora_for_another_family_is_reported_not_silent():
    path = loras_dir() / "lab_test_sdxl_for_sd15.safetensors"
    _sdxl_lora_for_the_sd15_model(path)
    try:
        text = await _inspect_report(path.name)
    finally:
        path.unlink()
    assert "this LoRA is for sdxl" in text and "the model is sd15" in text
    assert "0 matched, 6 unmatched" in text


@requires_comfyui_path
async def test_truncated_lora_passes_the_model_through_with_an_error_report():
    source = (loras_dir() / LORA).read_bytes()
    path = loras_dir() / "lab_test_truncated.safetensors"
    path.write_bytes(source[: len(source) // 2])
    try:
        text = await _inspect_report(path.name)
    finally:
        path.unlink()
    assert "NOT APPLIED" in text and "truncated" in text and path.name in text
