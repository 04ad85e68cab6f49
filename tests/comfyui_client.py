"""A small client for a real ComfyUI server, for the tests marked ``comfyui``.

They run when ``COMFYUI_URL`` points at a ComfyUI with this pack loaded (``../shared/comfy-host/start.sh``
starts one) and skip with a reason otherwise. ``COMFYUI_LOG`` (the server log) enables the import check.
"""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from pathlib import Path

import pytest

URL = os.environ.get("COMFYUI_URL", "").rstrip("/")
COMFYUI_PATH = os.environ.get("COMFYUI_PATH", "")
LOG = os.environ.get("COMFYUI_LOG", "")
CHECKPOINT = os.environ.get("COMFYUI_CHECKPOINT", "random_sd15.safetensors")
LORA = os.environ.get("COMFYUI_LORA", "random_sd15_lora.safetensors")
EXAMPLES = Path(__file__).resolve().parents[1] / "example_workflows"

requires_comfyui = pytest.mark.skipif(not URL, reason="set COMFYUI_URL to a ComfyUI server with this pack loaded "
                                                      "(see ../shared/comfy-host/README.md)")


requires_comfyui_path = pytest.mark.skipif(not COMFYUI_PATH, reason="set COMFYUI_PATH to the ComfyUI folder the "
                                                                    "server runs from (tests write model files there)")


def loras_dir() -> Path:
    return Path(COMFYUI_PATH) / "models" / "loras"


def get_json(path: str):
    with urllib.request.urlopen(URL + path, timeout=60) as response:
        return json.loads(response.read())


def request(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def example_prompt(name: str, object_info: dict) -> dict:
    """An example workflow (UI format) as an API prompt, pointed at the test checkpoint and sized small."""
    from comfyui_lora_lab.engines.comfy_workflow import ui_to_api

    prompt = ui_to_api(json.loads((EXAMPLES / name).read_text()), object_info)
    for node in prompt.values():
        inputs = node["inputs"]
        if "ckpt_name" in inputs:
            inputs["ckpt_name"] = CHECKPOINT
        if "lora_name" in inputs and not isinstance(inputs["lora_name"], list):
            inputs["lora_name"] = LORA
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        if node["class_type"] == "KSampler":
            inputs.update(steps=2)
    return prompt


async def run_prompt(prompt: dict, timeout: float = 600) -> dict:
    """Queue on /prompt, follow the websocket until the prompt finishes, return its /history entry."""
    import aiohttp

    client_id = uuid.uuid4().hex
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{URL}/ws?clientId={client_id}", heartbeat=30) as ws:
            async with session.post(f"{URL}/prompt", json={"prompt": prompt, "client_id": client_id}) as response:
                queued = await response.json()
                assert response.status == 200, queued
            prompt_id = queued["prompt_id"]
            error = None
            while True:  # ComfyUI stores the history, then sends `executing` with node None
                message = await ws.receive(timeout=timeout)
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                event = json.loads(message.data)
                data = event.get("data", {})
                if data.get("prompt_id") != prompt_id:
                    continue
                if event["type"] == "execution_error":
                    error = f"{data.get('node_type')}: {data.get('exception_message')}"
                if event["type"] == "executing" and data.get("node") is None:
                    break
            if error:
                raise AssertionError(error)
        async with session.get(f"{URL}/history/{prompt_id}") as response:
            return (await response.json())[prompt_id]
