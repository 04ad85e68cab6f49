"""LoRA Trainer in a real ComfyUI: the example workflow trains a few steps on the random SD1.5 checkpoint,
the LoRA is listed by Load LoRA without a restart and applies with 0 unmatched keys; an interrupt leaves a
resumable state that the next run continues from."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from comfyui_client import URL, example_prompt, get_json, request, requires_comfyui, run_prompt
from comfyui_lora_lab.engines.training.tiny import make_dataset

pytestmark = [pytest.mark.comfyui, requires_comfyui]


def _trainer_prompt(dataset: Path, name: str, **overrides) -> dict:
    prompt = example_prompt("lora_trainer.json", get_json("/object_info"))
    trainer = next(node for node in prompt.values() if node["class_type"] == "LoRALabTrainer")
    trainer["inputs"].update(dataset_dir=str(dataset), lora_name=name, trigger_word="lorasks", rank=4, epochs=1,
                             batch_size=2, resolution=64, sample_steps=4)
    trainer["inputs"].update(overrides)
    return prompt


def _lora_list() -> list[str]:
    return get_json("/object_info/LoraLoader")["LoraLoader"]["input"]["required"]["lora_name"][0]


async def test_example_workflow_trains_and_the_lora_is_listed_and_applies(tmp_path):
    dataset = make_dataset(tmp_path / "data", count=4, size=64)
    name = f"trainer_test_{uuid.uuid4().hex[:8]}"
    assert f"{name}.safetensors" not in _lora_list()
    prompt = _trainer_prompt(dataset, name)
    history = await run_prompt(prompt, timeout=900)
    trainer_id = next(k for k, v in prompt.items() if v["class_type"] == "LoRALabTrainer")
    text = "\n".join(history["outputs"][trainer_id]["text"])
    print(text)
    assert f"saved {name}.safetensors: 2 steps" in text
    assert " 0 unmatched" in text, text
    previews = [k for k, v in prompt.items() if v["class_type"] == "PreviewImage"]
    assert all(history["outputs"][k]["images"] for k in previews), "no loss plot / sample previews"
    assert f"{name}.safetensors" in _lora_list(), "Load LoRA does not list the new LoRA without a restart"
    inspect = example_prompt("lora_inspect.json", get_json("/object_info"))
    node = next(v for v in inspect.values() if v["class_type"] == "LoRALabInspect")
    node["inputs"]["lora_name"] = f"{name}.safetensors"
    report = "\n".join((await run_prompt(inspect))["outputs"][next(
        k for k, v in inspect.items() if v["class_type"] == "LoRALabInspect")]["text"])
    print(report)
    assert " 0 unmatched" in report and "family sd15" in report


async def test_a_broken_dataset_is_a_node_error(tmp_path):
    dataset = make_dataset(tmp_path / "data", count=2, size=64, captions=False)
    prompt = _trainer_prompt(dataset, f"broken_{uuid.uuid4().hex[:8]}")
    with pytest.raises(AssertionError, match="missing_caption"):
        await run_prompt(prompt, timeout=300)


async def test_interrupt_saves_a_state_that_resume_continues(tmp_path):
    import aiohttp

    dataset = make_dataset(tmp_path / "data", count=4, size=64)
    name = f"interrupt_{uuid.uuid4().hex[:8]}"
    prompt = _trainer_prompt(dataset, name, epochs=200)
    client_id = uuid.uuid4().hex
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{URL}/ws?clientId={client_id}", heartbeat=30) as ws:
            async with session.post(f"{URL}/prompt", json={"prompt": prompt, "client_id": client_id}) as response:
                prompt_id = (await response.json())["prompt_id"]
            interrupted = False
            while True:
                message = await ws.receive(timeout=900)
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                event = json.loads(message.data)
                data = event.get("data", {})
                if event.get("type") == "progress" and data.get("value", 0) >= 3 and not interrupted:
                    assert request("POST", "/interrupt", {})[0] == 200
                    interrupted = True
                if data.get("prompt_id") == prompt_id and event["type"] in (
                        "execution_interrupted", "execution_success", "execution_error"):
                    break
    assert event["type"] == "execution_interrupted", event
    resumed = _trainer_prompt(dataset, name, epochs=2, resume=True)
    history = await run_prompt(resumed, timeout=900)
    trainer_id = next(k for k, v in resumed.items() if v["class_type"] == "LoRALabTrainer")
    text = "\n".join(history["outputs"][trainer_id]["text"])
    print(text)
    assert "resumed from step" in text and " 0 unmatched" in text
