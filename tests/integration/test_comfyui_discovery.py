"""AutoLoRADiscover in a real ComfyUI: its routes, its example workflow through /prompt, on a library of the
random SD1.5 LoRA plus LoRAs written here with realistic metadata and sidecars (COMFYUI_PATH/models/loras)."""

from __future__ import annotations

import json
import time

import pytest

from comfyui_client import LORA, example_prompt, get_json, loras_dir, request, requires_comfyui, requires_comfyui_path, run_prompt

from comfyui_lora_lab.bench.discovery_library import Sidecars, civitai_record, write_header_file, write_real_lora, write_sidecars

pytestmark = [pytest.mark.comfyui, requires_comfyui, requires_comfyui_path]

PREFIX = "lab_disc_"
LIBRARY = {  # name -> (metadata, sidecars, loadable)
    "ghibli_style_v2.safetensors": ({"ss_base_model_version": "sd_v1", "modelspec.title": "Ghibli style",
                                     "modelspec.trigger_phrase": "ghibli style"}, Sidecars(), True),
    "watercolorDreams.safetensors": ({"ss_output_name": "watercolor dreams"}, Sidecars(lora_manager={
        "model_name": "Watercolor Dreams", "base_model": "SD 1.5", "tags": ["style"],
        "usage_tips": json.dumps({"strength_min": 0.6, "strength_max": 0.7}),
        "civitai": {"trainedWords": ["watercolor"]}}), True),
    "lora_3f9a1c.safetensors": ({}, Sidecars(a1111={"activation text": "papercut", "preferred weight": 0.7,
                                                    "sd version": "SD1"}), True),
    "digital_illustration.safetensors": ({"ss_base_model_version": "sd_v1"}, Sidecars(civitai=civitai_record(
        "Digital Illustration", "SD 1.5", ["digital illustration"], ["style"], ["digital illustration, castle"])), True),
    "pixelArtXL.safetensors": ({"ss_base_model_version": "sdxl_base_v1-0", "modelspec.trigger_phrase": "pixel art"},
                               Sidecars(), False),
}


def _listing(**params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return get_json(f"/lora_lab/loras?{query}")


@pytest.fixture(scope="module", autouse=True)
def library():
    folder = loras_dir()
    written = []
    for index, (name, (metadata, sidecars, loadable)) in enumerate(LIBRARY.items()):
        path = folder / f"{PREFIX}{name}"
        if loadable:
            write_real_lora(path, metadata, seed=index)
        else:
            write_header_file(path, "sdxl_unet", 8, metadata)
        write_sidecars(path, sidecars)
        written += [p for p in folder.glob(f"{PREFIX}{path.stem}*")]
    status, _ = request("POST", "/lora_lab/loras/refresh")
    assert status == 202
    deadline = time.time() + 120
    while time.time() < deadline:
        listing = _listing(q="ghibli")
        if listing["status"]["state"] == "ready" and listing["total"] >= 1 and \
                _listing(limit=500)["total"] >= len(LIBRARY) + 1:
            break
        time.sleep(0.5)  # waiting on the server's background scan, not timing anything
    yield
    for path in written:
        path.unlink(missing_ok=True)
    request("POST", "/lora_lab/loras/refresh")


def test_node_is_registered_with_list_outputs_and_tooltips():
    info = get_json("/object_info")["LoRALabAutoLoRADiscover"]
    assert info["output"] == ["MODEL", "CLIP", "STRING", "LORA_STACK", "STRING", "STRING"]
    assert info["output_is_list"] == [True, True, True, True, True, False]
    assert all(spec[1].get("tooltip") for spec in info["input"]["required"].values())


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_the_index_is_loraloaders_list(prefix):
    listing = get_json(f"{prefix}/lora_lab/loras?limit=500")
    loader = get_json("/object_info/LoraLoader")["LoraLoader"]["input"]["required"]["lora_name"][0]
    assert sorted(item["name"] for item in listing["items"]) == sorted(loader)
    names = {item["name"]: item for item in listing["items"]}
    assert names[f"{PREFIX}lora_3f9a1c.safetensors"]["triggers"] == ["papercut"]
    assert names[f"{PREFIX}pixelArtXL.safetensors"]["family"] == "sdxl" and names[LORA]["family"] == "sd15"
    sdxl = get_json(f"{prefix}/lora_lab/loras?family=sdxl&limit=500")["items"]
    # other tests on the same server may have left their own files; this test's library has one SDXL LoRA
    assert [item["name"] for item in sdxl if item["name"].startswith(PREFIX)] == [f"{PREFIX}pixelArtXL.safetensors"]
    assert all(item["family"] == "sdxl" for item in sdxl)


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_discover_route(prefix):
    status, body = request("POST", f"{prefix}/lora_lab/discover", {"prompt": "a fox, papercut, ghibli style", "family": "sd15"})
    assert status == 200
    assert {p["name"] for p in body["picks"]} == {f"{PREFIX}lora_3f9a1c.safetensors", f"{PREFIX}ghibli_style_v2.safetensors"}
    status, body = request("POST", f"{prefix}/lora_lab/discover", {"prompt": "pixel art castle", "family": "sd15"})
    assert status == 200 and body["picks"] == []
    status, body = request("POST", f"{prefix}/lora_lab/discover", {"prompt": "x", "k": 99})
    assert status == 400 and "max_loras" in body["error"]["message"]


def _discover_prompt(text: str | None = None, variations: int = 1) -> tuple[dict, str, str]:
    """The example workflow as an API prompt (optionally with another prompt text and more variations)."""
    prompt = example_prompt("auto_lora_discover.json", get_json("/object_info"))
    node_id = next(k for k, v in prompt.items() if v["class_type"] == "LoRALabAutoLoRADiscover")
    report_id = next(k for k, v in prompt.items() if v["class_type"] == "PreviewAny")
    if text is not None:
        prompt[node_id]["inputs"]["prompt"] = text
    prompt[node_id]["inputs"]["variations"] = variations
    return prompt, node_id, report_id


async def test_example_workflow_picks_applies_and_explains():
    prompt, node_id, report_id = _discover_prompt()
    history = await run_prompt(prompt)
    summary = "\n".join(history["outputs"][node_id]["text"])
    print(summary)  # shown with pytest -rP: what the node displays under itself
    report = json.loads(history["outputs"][report_id]["text"][0])
    picked = {p["name"] for p in report["picks"]}
    assert picked == {f"{PREFIX}ghibli_style_v2.safetensors", f"{PREFIX}watercolorDreams.safetensors"}, summary
    assert report["family"] == "sd15"
    applied = report["variants"][0]["applied"]
    assert all(a["applied"] and a["unmatched_keys"] == 0 and a["matched_keys"] > 0 for a in applied), applied
    dreams = next(p for p in report["picks"] if "watercolor" in p["name"])
    assert 0.6 <= dreams["strength"] <= 0.7
    assert [node for node in history["outputs"].values() if node.get("images")]


async def test_the_random_sd15_lora_and_variations_as_lists():
    prompt, node_id, report_id = _discover_prompt("random noise, papercut", variations=3)
    history = await run_prompt(prompt)
    report = json.loads(history["outputs"][report_id]["text"][0])
    assert LORA in {p["name"] for p in report["picks"]}
    assert len(report["variants"]) == 3
    images = [image for node in history["outputs"].values() for image in node.get("images", [])]
    assert len(images) == 3


async def test_generic_and_other_family_prompts_pick_nothing():
    prompt, node_id, report_id = _discover_prompt("pixel art of a dog, highly detailed")
    history = await run_prompt(prompt)
    report = json.loads(history["outputs"][report_id]["text"][0])
    assert report["picks"] == [] and report["abstained_reason"]
    assert "no LoRA" in "\n".join(history["outputs"][node_id]["text"])


def test_names_only_client_ranks_object_infos_list_like_the_engine():
    """``lora-lab discover --server`` reads LoraLoader's list from /object_info (names only) and ranks it with
    the same engine function as the node; the seed-style prompt finds the LoRAs named for it."""
    from comfyui_client import URL

    from comfyui_lora_lab.cli.discover_cmd import remote_names
    from comfyui_lora_lab.engines.discovery import DiscoverOptions, names_only_index, run_discovery

    names = remote_names(URL)
    assert f"{PREFIX}ghibli_style_v2.safetensors" in names and LORA in names
    # This test's LoRAs (its distractors included): other tests leave LoRAs named for watercolor in the same
    # folder (a draft-flow distractor, a Text to LoRA output), and by name alone any of them answers "watercolor".
    names = [name for name in names if name.startswith(PREFIX) or name == LORA]
    result = run_discovery(names_only_index(names), "a castle on a hill, ghibli style, watercolor",
                           DiscoverOptions(family="sd15", allow_unknown_family=True))
    picked = [p.name for p in result.picks]
    assert f"{PREFIX}ghibli_style_v2.safetensors" in picked and f"{PREFIX}watercolorDreams.safetensors" in picked, picked
    assert all(0.5 <= p.strength <= 0.8 for p in result.picks)
