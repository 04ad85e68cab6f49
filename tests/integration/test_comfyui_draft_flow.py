"""The seed's Draft flow in a real ComfyUI: draft_grid.json (Checkpoint Explorer -> Auto LoRA Discover per draft
-> encode -> sample -> decode -> Save Drafts) on a tier of three checkpoints and a LoRA folder with the seed's
three LoRAs among distractors; picks through ``POST /lora_lab/picks`` move the next batch and the next prompt.

The test makes what it needs under COMFYUI_PATH: hard links of the random SD1.5 checkpoint under the seed's
names, and small real kohya LoRAs with the metadata such files carry.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from comfyui_client import URL as URL_FIRST
from comfyui_client import (CHECKPOINT, COMFYUI_PATH, example_prompt, get_json, loras_dir, request, requires_comfyui,
                            requires_comfyui_path, run_prompt)

from comfyui_lora_lab.bench.discovery_library import write_real_lora

pytestmark = [pytest.mark.comfyui, requires_comfyui, requires_comfyui_path]

# Names of this run's own: the server's store keeps every earlier run's picks per checkpoint, and the seed's 7/7/6
# is what a tier with no history gets.
RUN = f"{int(time.time()) % 100000:05d}"
TIER = f"lab_draft_flow_{RUN}"
CHECKPOINTS = [f"lab_flow_{RUN}_{name}.safetensors" for name in ("beenyouLite", "realisticVision", "dreamshaper")]
SEED_PROMPT = "beautiful anime girl with flowing hair in magical forest"
NEW_PROMPT = "anime princess walking through an enchanted magical forest at dusk"
SEED_LORAS = {
    "anime_style_v2.safetensors": {"modelspec.trigger_phrase": "anime style", "ss_tag_frequency": json.dumps(
        {"10_anime": {"anime": 60, "anime coloring": 40, "1girl": 50, "long hair": 30}})},
    "fantasy_landscape.safetensors": {"ss_tag_frequency": json.dumps(
        {"10_fantasy": {"fantasy": 30, "magical forest": 20, "forest": 25, "landscape": 30}})},
    "detailed_hair.safetensors": {"ss_tag_frequency": json.dumps({"10_hair": {"flowing hair": 30, "detailed hair": 40}})},
}
DISTRACTORS = ["cyberpunk_city", "watercolor_portrait", "pixel_art_v1", "steampunk_machines", "retro_car_80s",
               "oil_painting_classic", "sci_fi_armor", "food_photography", "low_poly_3d", "vintage_film_grain",
               "neon_signs", "desert_ruins"]


def _wait_for_library(expected: list[str]) -> None:
    status, _ = request("POST", "/lora_lab/loras/refresh")
    assert status == 202
    deadline = time.time() + 120
    while time.time() < deadline:
        listing = get_json("/lora_lab/loras?limit=500")
        names = {item["name"] for item in listing["items"]}
        if listing["status"]["state"] == "ready" and set(expected) <= names:
            return
        time.sleep(0.5)  # waiting on the server's background scan, not timing anything
    raise AssertionError(f"the LoRA library did not list {expected} within 120 s")


@pytest.fixture(scope="module", autouse=True)
def seed_setup():
    """Three checkpoints in a tier, the seed's LoRAs plus distractors, the panel on Explore + Auto-LoRA."""
    folder = Path(COMFYUI_PATH) / "models" / "checkpoints"
    made = []
    for name in CHECKPOINTS:
        if not (folder / name).exists():
            os.link(folder / CHECKPOINT, folder / name)
            made.append(folder / name)
    loras = {**SEED_LORAS, **{f"{name}.safetensors": {} for name in DISTRACTORS}}
    for index, (name, metadata) in enumerate(loras.items()):
        write_real_lora(loras_dir() / name, {"ss_base_model_version": "sd_v1", **metadata}, seed=index)
    _wait_for_library(list(loras))
    status, body = request("PUT", "/api/lora_lab/pools", {"tiers": {TIER: {"checkpoints": CHECKPOINTS}}})
    assert status == 200, body
    before = get_json("/lora_lab/settings")
    status, body = request("PUT", "/lora_lab/settings", {"mode": "explore", "auto_lora": True})
    assert status == 200, body
    yield
    request("PUT", "/lora_lab/settings", before)
    for name in loras:
        (loras_dir() / name).unlink(missing_ok=True)
    request("POST", "/lora_lab/loras/refresh")
    for path in made:
        path.unlink(missing_ok=True)


def _draft_grid(prompt_text: str, seed: int) -> tuple[dict, dict[str, str]]:
    prompt = example_prompt("draft_grid.json", get_json("/object_info"))
    ids = {node["class_type"]: key for key, node in prompt.items()}
    prompt[ids["LoRALabCheckpointExplorer"]]["inputs"].update(tier=TIER, count=20, seed=seed, prompt=prompt_text)
    return prompt, ids


def _run_batch(prompt_text: str, seed: int) -> tuple[dict, dict]:
    prompt, ids = _draft_grid(prompt_text, seed)
    history = asyncio.run(run_prompt(prompt, timeout=2400))
    text = history["outputs"][ids["LoRALabCheckpointExplorer"]]["text"][0]
    batch_id = text.split()[1]  # "batch <id> (explore, tier ...)"
    batch = next(b for b in get_json("/api/lora_lab/batches?limit=20")["batches"] if b["id"] == batch_id)
    return history | {"ids": ids}, batch


def _groups(batch: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for draft in batch["drafts"]:
        out.setdefault(draft["checkpoint"], []).append(draft)
    return out


def _lora_names(draft: dict) -> tuple[str, ...]:
    return tuple(sorted(lora["name"] for lora in draft["loras"]))


@pytest.fixture(scope="module")
def first_batch():
    return _run_batch(SEED_PROMPT, seed=1)


def _discovered(prompt_text: str) -> list[str]:
    status, body = request("POST", "/lora_lab/discover", {"prompt": prompt_text, "family": "sd15"})
    assert status == 200, body
    return [pick["name"] for pick in body["picks"]]


def test_twenty_drafts_spread_7_7_6_with_a_different_combination_per_group(first_batch):
    history, batch = first_batch
    assert batch["tier"] == TIER and batch["prompt"] == SEED_PROMPT and len(batch["drafts"]) == 20
    groups = _groups(batch)
    assert sorted(len(drafts) for drafts in groups.values()) == [6, 7, 7], {k: len(v) for k, v in groups.items()}
    combos = {name: {_lora_names(d) for d in drafts} for name, drafts in groups.items()}
    assert all(len(c) == 1 for c in combos.values()), f"one combination per checkpoint group: {combos}"
    assert len({next(iter(c)) for c in combos.values()}) == 3, f"a different combination per group: {combos}"
    candidates = set(_discovered(SEED_PROMPT))
    assert all(set(next(iter(c))) <= candidates for c in combos.values()), (combos, candidates)
    assert all(d["image"] and d["checkpoint"] in CHECKPOINTS for d in batch["drafts"])
    text = "\n".join(history["outputs"][history["ids"]["LoRALabSaveDrafts"]]["text"])
    assert "drafts 0-19 recorded" in text, text


def test_the_seeds_three_loras_are_the_candidates():
    """The seed: discovery finds anime_style_v2, fantasy_landscape and detailed_hair for its prompt (needs the
    discovery engine to ground 'anime' on an anime style LoRA)."""
    assert set(_discovered(SEED_PROMPT)) == set(SEED_LORAS)


def test_picks_move_the_next_batch_and_the_next_prompts_first_lora(first_batch):
    _, batch = first_batch
    groups = _groups(batch)
    checkpoint, drafts = next((name, drafts) for name, drafts in groups.items()
                              if "fantasy_landscape.safetensors" in _lora_names(drafts[0]))
    before = get_json("/api/lora_lab/loras/stats")
    status, body = request("POST", "/api/lora_lab/picks", {"draft_ids": [d["id"] for d in drafts], "selected": True})
    assert status == 200 and body["changed"] == len(drafts), body
    others = [d["id"] for name, group in groups.items() if name != checkpoint for d in group]
    status, body = request("POST", "/api/lora_lab/picks", {"draft_ids": others, "selected": False})
    assert status == 200, body
    after = get_json("/api/lora_lab/loras/stats")
    for name in {lora["name"] for d in batch["drafts"] for lora in d["loras"]}:
        carrying = [d for d in batch["drafts"] if name in _lora_names(d)]
        picked = sum(1 for d in carrying if d["checkpoint"] == checkpoint)
        assert after[name]["total"] == before[name]["total"], (name, before, after)
        assert after[name]["selected"] == before[name].get("selected", 0) + picked, (name, before, after)
    _, second = _run_batch(SEED_PROMPT, seed=2)
    counts = {name: len(d) for name, d in _groups(second).items()}
    assert counts.get(checkpoint, 0) > len(drafts), counts
    assert _discovered(NEW_PROMPT)[0] == "fantasy_landscape.safetensors"


def test_the_panel_switch_off_passes_the_graph_through_without_loras():
    status, _ = request("PUT", "/lora_lab/settings", {"auto_lora": False})
    assert status == 200
    try:
        prompt, ids = _draft_grid(SEED_PROMPT, seed=3)
        prompt[ids["LoRALabCheckpointExplorer"]]["inputs"]["count"] = 3
        history = asyncio.run(run_prompt(prompt))
    finally:
        request("PUT", "/lora_lab/settings", {"auto_lora": True})
    text = "\n".join(history["outputs"][ids["LoRALabAutoLoRADiscover"]]["text"])
    assert "Auto-LoRA off" in text and "panel" in text, text
    batch = get_json("/api/lora_lab/batches?limit=1")["batches"][0]
    assert len(batch["drafts"]) == 3 and all(d["loras"] == [] and d["image"] for d in batch["drafts"])


SECOND_PATH = os.environ.get("COMFYUI_SECOND_PATH", "")
SECOND_PORT = int(os.environ.get("COMFYUI_SECOND_PORT", "8235"))
COMFY_PYTHON = os.environ.get("COMFYUI_PYTHON", "")  # the Python of ComfyUI's venv (comfy-host: its COMFY_VENV)
TEMPLATE = Path(__file__).with_name("txt2img_api.json")


@pytest.fixture
def second_server():
    """A second ComfyUI (COMFYUI_SECOND_PATH, e.g. ``cp -al`` of the first with this pack linked) on its own port,
    sharing the first one's user directory (so LoRA Lab's store); started here, so the test can stop it."""
    if not SECOND_PATH or not COMFY_PYTHON:
        pytest.skip("set COMFYUI_SECOND_PATH to a second ComfyUI folder with this pack in custom_nodes and "
                    "COMFYUI_PYTHON to the Python of ComfyUI's venv")
    models, linked = Path(SECOND_PATH) / "models", []
    for name in CHECKPOINTS:
        if not (models / "checkpoints" / name).exists():
            os.link(Path(COMFYUI_PATH) / "models" / "checkpoints" / CHECKPOINT, models / "checkpoints" / name)
            linked.append(models / "checkpoints" / name)
    for name in SEED_LORAS:  # the drafts' LoraLoader nodes name them on this server too
        if not (models / "loras" / name).exists():
            os.link(loras_dir() / name, models / "loras" / name)
            linked.append(models / "loras" / name)
    log = open(Path(SECOND_PATH) / "lora_lab_second_server.log", "wb")
    process = subprocess.Popen([COMFY_PYTHON, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(SECOND_PORT),
                                "--user-directory", str(Path(COMFYUI_PATH) / "user")],
                               cwd=SECOND_PATH, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{SECOND_PORT}"
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(url + "/lora_lab/settings", timeout=5).read()
            break
        except OSError:
            time.sleep(1)  # waiting for the server to start, not timing anything
    else:
        process.kill()
        pytest.fail(f"the second ComfyUI did not start; see {log.name}")
    yield url, process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=60)
    log.close()
    for path in linked:
        path.unlink(missing_ok=True)


def _finished_on(url: str) -> int:
    try:
        return len(json.loads(urllib.request.urlopen(url + "/history", timeout=10).read()))
    except OSError:
        return 0


def test_two_servers_one_stopped_mid_batch_every_draft_finished_and_recorded_once(second_server):
    url, process = second_server
    tier = f"{TIER}_servers_{int(time.time())}"  # a tier with no history: the seed's 7/7/6
    status, body = request("PUT", "/api/lora_lab/pools", {"tiers": {TIER: {"checkpoints": CHECKPOINTS},
                                                                     tier: {"checkpoints": CHECKPOINTS}}})
    assert status == 200, body
    command = [sys.executable, "-m", "comfyui_lora_lab.cli", "queue", str(TEMPLATE), "--server", URL_FIRST,
               "--server", url, "--prompt", SEED_PROMPT, "--count", "20", "--tier", tier, "--explore",
               "--auto-lora", "--family", "sd15", "--wait", "--timeout", "1800"]
    before = _finished_on(url)
    queue = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while _finished_on(url) == before and queue.poll() is None:
        time.sleep(1)  # waiting for the second server's first finished draft, not timing anything
    os.killpg(process.pid, 9)  # the server stops mid-batch
    process.wait(timeout=60)
    out, err = queue.communicate(timeout=1800)
    assert queue.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert sorted(result["distribution"].values()) == [6, 7, 7]
    assert result["status"] == {str(i): "success" for i in range(20)}
    assert result["requeued"] and all(moved["from"] == url for moved in result["requeued"].values())
    assert set(result["gpu_distribution"]) <= {URL_FIRST, url}
    batch = next(b for b in get_json("/api/lora_lab/batches?limit=20")["batches"] if b["id"] == result["batch_id"])
    assert sorted(d["index"] for d in batch["drafts"]) == list(range(20))
    assert all(d["image"] for d in batch["drafts"])
    images = [d["image"]["filename"] for d in batch["drafts"]]
    assert len(set(images)) == 20, "every draft recorded once, with its own image"
    groups = {g["checkpoint"]: [lora["name"] for lora in g["loras"]] for g in result["groups"]}
    assert all([lora["name"] for lora in d["loras"]] == groups[d["checkpoint"]] for d in batch["drafts"])
