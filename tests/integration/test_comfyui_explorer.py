"""CheckpointExplorer inside a real ComfyUI: the example runs over two checkpoints, picks move the stats,
``lora-lab queue`` queues a batch that completes, and bad input is refused with nothing recorded.

Needs a second checkpoint name in the server's checkpoints folder (a copy or symlink of the random SD1.5
file): ``COMFYUI_CHECKPOINT_B`` (default ``random_sd15_b.safetensors``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from comfyui_client import CHECKPOINT, LORA, URL, example_prompt, get_json, request, requires_comfyui, run_prompt

pytestmark = [pytest.mark.comfyui, requires_comfyui]
CHECKPOINT_B = os.environ.get("COMFYUI_CHECKPOINT_B", "random_sd15_b.safetensors")
TIER = "lab_test"
TEMPLATE = Path(__file__).with_name("txt2img_api.json")


@pytest.fixture(scope="module")
def two_checkpoint_tier():
    installed = get_json("/object_info/CheckpointLoaderSimple")["CheckpointLoaderSimple"]["input"]["required"]
    if CHECKPOINT_B not in installed["ckpt_name"][0]:
        pytest.skip(f"put a copy or symlink of {CHECKPOINT} named {CHECKPOINT_B} in the server's checkpoints folder")
    status, body = request("PUT", "/api/lora_lab/pools",
                           {"tiers": {TIER: {"checkpoints": [CHECKPOINT, CHECKPOINT_B]}}})
    assert status == 200, body
    assert body["tiers"][TIER]["installed"] == [CHECKPOINT, CHECKPOINT_B]
    return TIER


def _explorer_prompt(tier: str, count: int = 2, seed: int = 1) -> tuple[dict, str, str]:
    prompt = example_prompt("checkpoint_explorer.json", get_json("/object_info"))
    explorer = next(k for k, v in prompt.items() if v["class_type"] == "LoRALabCheckpointExplorer")
    save = next(k for k, v in prompt.items() if v["class_type"] == "LoRALabSaveDrafts")
    prompt[explorer]["inputs"].update(tier=tier, mode="explore", count=count, seed=seed)
    return prompt, explorer, save


def test_nodes_are_registered_with_list_outputs():
    info = get_json("/object_info")
    explorer = info["LoRALabCheckpointExplorer"]
    assert explorer["output_is_list"] == [True, True, True, True, False, True, False, True]
    assert info["LoRALabSaveDrafts"]["output_node"] is True


@pytest.fixture(scope="module")
def explored(two_checkpoint_tier):
    """The example workflow run once (2 drafts, one per checkpoint): (prompt, explorer id, save id, history)."""
    prompt, explorer, save = _explorer_prompt(two_checkpoint_tier)
    return prompt, explorer, save, asyncio.run(run_prompt(prompt))


def test_example_workflow_spreads_drafts_over_two_checkpoints_and_records_them(explored, two_checkpoint_tier):
    _, explorer, save, history = explored
    text = "\n".join(history["outputs"][explorer]["text"])
    assert "2 loaded from disk, 0 reused" in text or "0 loaded from disk, 2 reused" in text, text
    images = history["outputs"][save]["images"]
    assert len(images) == 2
    batch = get_json("/api/lora_lab/batches?limit=1")["batches"][0]
    assert batch["tier"] == two_checkpoint_tier and batch["mode"] == "explore"
    assert sorted(d["checkpoint"] for d in batch["drafts"]) == sorted([CHECKPOINT, CHECKPOINT_B])
    assert [d["image"]["filename"] for d in batch["drafts"]] == [i["filename"] for i in images]


def test_a_posted_pick_changes_the_stats(explored):
    draft = get_json("/api/lora_lab/batches?limit=1")["batches"][0]["drafts"][0]
    before = get_json("/api/checkpoints/stats")[draft["checkpoint"]]
    status, body = request("POST", "/api/lora_lab/picks", {"draft_ids": [draft["id"]], "selected": True})
    assert status == 200 and body["changed"] == 1, body
    after = get_json("/api/checkpoints/stats")[draft["checkpoint"]]
    assert after["selected"] == before["selected"] + 1 and after["total"] == before["total"]
    assert after["selection_rate"] == round(after["selected"] / after["total"], 4)


@pytest.mark.parametrize("method,path,body,status", [
    ("POST", "/api/lora_lab/picks", {"draft_ids": ["no-such-draft"], "selected": True}, 404),
    ("POST", "/api/lora_lab/picks", {"draft_ids": "oops"}, 400),
    ("PUT", "/api/lora_lab/pools", {"tiers": {"t": {"checkpoints": [CHECKPOINT, "missing.safetensors"]}}}, 400),
    ("PUT", "/api/lora_lab/pools", {"tiers": {"t": {"checkpoints": [CHECKPOINT]}}}, 400),
    ("POST", "/api/lora_lab/batches", {"tier": TIER, "count": 0}, 400),
])
def test_bad_input_is_refused_and_nothing_is_recorded(two_checkpoint_tier, method, path, body, status):
    before = (get_json("/api/checkpoints/stats"), get_json("/api/lora_lab/pools"),
              get_json("/api/lora_lab/batches?limit=1"))
    got, answer = request(method, path, body)
    assert got == status and answer["error"]["message"], answer
    assert before == (get_json("/api/checkpoints/stats"), get_json("/api/lora_lab/pools"),
                      get_json("/api/lora_lab/batches?limit=1"))


def test_count_zero_is_a_node_error_at_queue_time(two_checkpoint_tier):
    prompt, explorer, _ = _explorer_prompt(two_checkpoint_tier, count=0)
    latest = get_json("/api/lora_lab/batches?limit=1")
    status, body = request("POST", "/prompt", {"prompt": prompt})
    assert status == 400 and "count" in json.dumps(body["node_errors"][explorer])
    assert get_json("/api/lora_lab/batches?limit=1") == latest


def test_queue_client_queues_a_batch_that_completes_with_a_lora_chain(two_checkpoint_tier):
    command = [sys.executable, "-m", "comfyui_lora_lab.cli", "queue", str(TEMPLATE), "--server", URL,
               "--prompt", "a red lighthouse", "--count", "3", "--tier", two_checkpoint_tier, "--explore",
               "--seed", "7", "--lora", f"{LORA}:0.5", "--wait", "--timeout", "900"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1000)
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["total_count"] == 3 and sum(result["distribution"].values()) == 3
    assert set(result["distribution"]) == {CHECKPOINT, CHECKPOINT_B}
    assert set(result["status"].values()) == {"success"}
    batch = next(b for b in get_json("/api/lora_lab/batches?limit=5")["batches"] if b["id"] == result["batch_id"])
    assert all(d["image"] for d in batch["drafts"])
    assert all(d["loras"] == [{"name": LORA, "strength": 0.5}] for d in batch["drafts"])
