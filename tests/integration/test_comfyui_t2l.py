"""Text to LoRA inside a real ComfyUI: the example workflow runs through /prompt, the saved LoRA loads through
ComfyUI's own LoraLoader with no "lora key not loaded" line, and bad input is refused at queue time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfyui_client import CHECKPOINT, LOG, example_prompt, get_json, request, requires_comfyui, run_prompt

pytestmark = [pytest.mark.comfyui, requires_comfyui]
NODE = "LoRALabTextToLoRAOptimize"


def _t2l_prompt(steps: int = 8) -> tuple[dict, str]:
    prompt = example_prompt("text_to_lora.json", get_json("/object_info"))
    node_id = next(k for k, v in prompt.items() if v["class_type"] == NODE)
    prompt[node_id]["inputs"].update(steps=steps, name_prefix="itest_t2l")
    return prompt, node_id


def test_node_is_registered_with_tooltips_and_presets():
    info = get_json("/object_info")[NODE]
    assert info["category"] == "LoRA Lab"
    required = info["input"]["required"]
    assert {"sd15", "sdxl", "sd3", "flux"} <= set(required["config"][1]["options"])
    assert "none" in required["proposer"][1]["options"]
    assert all(spec[1].get("tooltip") for spec in required.values())
    assert info["output"] == ["CLIP", "STRING", "STRING", "IMAGE"]


async def test_example_workflow_runs_and_its_lora_loads_with_every_key():
    prompt, node_id = _t2l_prompt()
    history = await run_prompt(prompt, timeout=900)
    text = "\n".join(history["outputs"][node_id]["text"])
    assert "0 not loaded" in text and "clip_l: NLL" in text, text
    assert any(node.get("images") for key, node in history["outputs"].items() if key != node_id), "no image saved"
    saved = text.split("saved ", 1)[1].strip()
    assert Path(saved).is_file() and Path(saved).parent.name == "text_to_lora"
    lora_name = f"text_to_lora/{Path(saved).name}"
    assert lora_name in get_json("/object_info/LoraLoader")["LoraLoader"]["input"]["required"]["lora_name"][0]
    assert Path(saved).name in json.dumps(get_json("/lora_lab/loras?q=itest_t2l&limit=200")), "not in the LoRA index"
    log_before = Path(LOG).read_text(errors="replace") if LOG else ""
    loader_prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "2": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": lora_name,
                                                    "strength_model": 1.0, "strength_clip": 1.0}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 1], "text": "a red fox"}},
        "4": {"class_type": "LoRALabInspect", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": lora_name,
                                                        "strength_model": 1.0, "strength_clip": 1.0}},
        "5": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},  # makes LoraLoader + encode run
        "6": {"class_type": "PreviewAny", "inputs": {"source": ["4", 2]}},  # makes the (non-output) Inspect run
    }
    history = await run_prompt(loader_prompt)
    inspect_text = "\n".join(history["outputs"]["4"]["text"])
    assert "keys: 72 matched, 0 unmatched" in inspect_text, inspect_text  # 12 layers x q,v x down/up/alpha
    assert "5" in history["outputs"]
    if LOG:
        new_lines = Path(LOG).read_text(errors="replace")[len(log_before):]
        assert "lora key not loaded" not in new_lines


async def test_report_measures_the_lora_and_the_control():
    prompt, node_id = _t2l_prompt(steps=5)
    prompt[node_id]["inputs"]["save"] = False
    history = await run_prompt(prompt, timeout=900)
    text = "\n".join(history["outputs"][node_id]["text"])
    assert "not saved" in text and "shuffled-control gap" in text, text


def test_empty_prompt_is_refused_at_queue_time():
    prompt, node_id = _t2l_prompt()
    prompt[node_id]["inputs"]["prompt"] = "   "
    status, body = request("POST", "/prompt", {"prompt": prompt})
    assert status == 400
    assert "prompt is empty" in json.dumps(body)


async def test_config_for_another_model_fails_with_a_clear_error():
    prompt, node_id = _t2l_prompt(steps=1)
    prompt[node_id]["inputs"]["config"] = "sdxl"
    with pytest.raises(AssertionError, match="clip_g"):
        await run_prompt(prompt, timeout=300)


def _encode_preview(lora_name: str | None, text: str) -> dict:
    """Checkpoint -> [LoraLoader] -> CLIP Set Last Layer -2 -> CLIPTextEncode -> PreviewAny (what the sampler reads)."""
    clip = ["1", 1]
    prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}}}
    if lora_name:
        prompt["2"] = {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1],
                                                             "lora_name": lora_name, "strength_model": 1.0,
                                                             "strength_clip": 1.0}}
        clip = ["2", 1]
    prompt["3"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": clip, "stop_at_clip_layer": -2}}
    prompt["4"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["3", 0], "text": text}}
    prompt["5"] = {"class_type": "PreviewAny", "inputs": {"source": ["4", 0]}}
    return prompt


async def test_clip_skip_2_gives_a_lora_on_the_layer_the_sampler_reads():
    """CLIP Set Last Layer -2 before the node: the score and the keep term read block 10 of 12 (final-normed, as
    ComfyUI's SD1 encoder does), no module above it gets a LoRA, and ComfyUI's own encode at clip skip 2 changes."""
    from safetensors import safe_open

    prompt, node_id = _t2l_prompt(steps=6)
    prompt["90"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": prompt[node_id]["inputs"]["clip"],
                                                                 "stop_at_clip_layer": -2}}
    prompt[node_id]["inputs"].update(clip=["90", 0], budget=0.05, name_prefix="itest_t2l_skip2")
    history = await run_prompt(prompt, timeout=900)
    text = "\n".join(history["outputs"][node_id]["text"])
    assert "read layer -2 normed" in text and "77 positions" in text and "0 not loaded" in text, text
    change = float(text.split("conditioning change ", 1)[1].split(" ", 1)[0])
    assert 0 < change <= 0.05, text
    saved = text.split("saved ", 1)[1].strip()
    with safe_open(saved, "pt") as handle:
        keys = list(handle.keys())
    layers = {int(k.split("_layers_", 1)[1].split("_", 1)[0]) for k in keys if "_layers_" in k}
    assert layers == set(range(11)), sorted(layers)  # blocks 0..10: nothing above the read layer
    lora_name = f"text_to_lora/{Path(saved).name}"
    words = "a watercolor painting of a red fox sleeping under a cherry tree at dusk"
    plain = await run_prompt(_encode_preview(None, words))
    adapted = await run_prompt(_encode_preview(lora_name, words))
    assert plain["outputs"]["5"]["text"] != adapted["outputs"]["5"]["text"]  # the conditioning the sampler gets
