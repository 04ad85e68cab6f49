"""Brand LoRA Stack inside a real ComfyUI: the example runs, a re-run hits the cache, routes answer, fallbacks.

The brand library is written into the server's ``models/loras/brands/`` from the test checkpoint's real
SD1.5 LoRA (scaled variants with brand metadata), so every key matches the model.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import urllib.error
import urllib.request

import pytest
import torch

from comfyui_client import (
    LORA, URL, example_prompt, get_json, loras_dir, request, requires_comfyui, requires_comfyui_path,
    run_prompt,
)

pytestmark = [pytest.mark.comfyui, requires_comfyui, requires_comfyui_path]
NODE = "LoRALabBrandLoRAStack"
ACME_METADATA = {"description": "Acme house style (integration test)", "base_model": "sd15",
                 "training": {"steps": 500, "learning_rate": 0.0001, "dataset_size": 24},
                 "versions": {"v1": {"notes": "first cut"}, "v2": {"notes": "warmer palette"}},
                 "ab_arms": {"subtle": 0.3, "bold": 0.9}}


def _variant(target, scale: float, title: str) -> None:
    from comfyui_lora_lab.engines.lora_format import load_tensors, save_tensors

    tensors, metadata = load_tensors(loras_dir() / LORA)
    scaled = {k: v * scale if k.endswith("lora_up.weight") else v for k, v in tensors.items()}
    save_tensors(target, scaled, {**metadata, "ss_output_name": title, "ss_base_model_version": "sd_v1"},
                 overwrite=True)


def _sdxl_lora(target) -> None:
    from comfyui_lora_lab.engines.lora_format import save_tensors

    stem = "lora_te2_text_model_encoder_layers_0_self_attn_q_proj"
    save_tensors(target, {f"{stem}.lora_down.weight": torch.zeros(4, 1280), f"{stem}.lora_up.weight":
                          torch.zeros(1280, 4), f"{stem}.alpha": torch.tensor(4.0)},
                 {"ss_base_model_version": "sdxl_base_v1-0"}, overwrite=True)


def build_brand_library(rebuild: bool = False):
    """Write the test brands (kept between runs, so a server started with LORA_PRELOAD_BRANDS finds them).

    Run before starting the server: ``python -c "import test_comfyui_brands as t; t.build_brand_library()"``
    with ``tests`` and ``tests/integration`` on the path and COMFYUI_PATH set.
    """
    root = loras_dir() / "brands"
    if not rebuild and (root / "lab_broken" / "style.safetensors").exists():
        return root
    for brand in ("acme", "studio_photo", "lab_sdxl", "lab_broken"):
        shutil.rmtree(root / brand, ignore_errors=True)
    _variant(root / "acme" / "v1" / "style.safetensors", 0.5, "acme style v1")
    _variant(root / "acme" / "v2" / "style.safetensors", 1.0, "acme style v2")
    _variant(root / "acme" / "product.safetensors", 0.8, "acme product")
    (root / "acme" / "metadata.json").write_text(json.dumps(ACME_METADATA))
    _variant(root / "studio_photo" / "lora.safetensors", 0.7, "studio photography")
    _sdxl_lora(root / "lab_sdxl" / "style.safetensors")
    _variant(root / "lab_broken" / "style.safetensors", 1.0, "broken")
    broken = root / "lab_broken" / "style.safetensors"
    broken.write_bytes(broken.read_bytes()[:-4096])
    return root


@pytest.fixture(scope="module", autouse=True)
def brand_library():
    return build_brand_library()


def _stack_prompt(**inputs) -> tuple[dict, str]:
    prompt = example_prompt("brand_lora_stack.json", get_json("/object_info"))
    node_id = next(k for k, v in prompt.items() if v["class_type"] == NODE)
    prompt[node_id]["inputs"].update(inputs)
    return prompt, node_id


def _fresh_weight() -> float:
    """A weight no earlier run on this server used, so ComfyUI's output cache cannot skip the node."""
    return round(random.uniform(0.2, 0.95), 4)


def _stats() -> dict:
    return get_json("/api/lora/cache/stats")


async def test_preloaded_brands_are_cached_before_their_first_request():
    """Runs first: with LORA_PRELOAD_BRANDS=acme,studio_photo the first stack using studio_photo is a hit."""
    wanted = [name.strip() for name in os.environ.get("LORA_PRELOAD_BRANDS", "").split(",") if name.strip()]
    if not wanted:
        pytest.skip("start the server with LORA_PRELOAD_BRANDS (and this variable set here) to check preloading")
    preload = _stats()["preload"]
    assert preload["done"] and preload["failed"] == [], preload
    assert set(preload["loaded"]) | set(preload["already_cached"]) == set(wanted)
    if "studio_photo" in wanted:
        prompt, node_id = _stack_prompt(brand="studio_photo", lora_configs="", weight=_fresh_weight())
        text = "\n".join((await run_prompt(prompt))["outputs"][node_id]["text"])
        assert "studio_photo (unversioned)" in text and "cache hit" in text, text


def test_node_lists_the_brands_with_tooltips():
    info = get_json(f"/object_info/{NODE}")[NODE]
    brands = info["input"]["required"]["brand"][1]["options"]
    assert {"acme", "studio_photo"} <= set(brands) and brands[-1] == "(none)"
    assert info["output_is_list"] == [True, True, True, True]
    assert all(spec[1].get("tooltip") for spec in info["input"]["required"].values())


async def test_example_stack_runs_and_a_second_run_hits_the_cache():
    weight = _fresh_weight()
    prompt, node_id = _stack_prompt(weight=weight)
    before = _stats()
    history = await run_prompt(prompt)
    first = "\n".join(history["outputs"][node_id]["text"])
    assert "acme (v2)" in first and "acme/product (unversioned)" in first, first
    assert first.count(", 0 unmatched") == 2 and "WARNING" not in first
    assert any(node.get("images") for node in history["outputs"].values())
    middle = _stats()
    assert middle["requests"] - before["requests"] == 2

    prompt, node_id = _stack_prompt(weight=round(weight + 0.03, 4))  # new input: ComfyUI runs the node again
    second = "\n".join((await run_prompt(prompt))["outputs"][node_id]["text"])
    after = _stats()
    assert second.count("cache hit") == 2, second
    assert after["hits"] - middle["hits"] == 2 and after["misses"] == middle["misses"]
    assert after["hit_rate"] > 0 and after["load_timings"]["count"] >= 1


def test_metadata_route_answers_for_the_brand_with_an_etag():
    status, body = request("GET", "/api/lora/acme/metadata")
    assert status == 200 and body["description"] == ACME_METADATA["description"]
    assert [v["version"] for v in body["versions"]] == ["v2", "v1", None]
    newest = body["versions"][0]["files"][0]
    assert newest["default"] and newest["family"] == "sd15" and newest["lora_name"] == "brands/acme/v2/style.safetensors"
    req = urllib.request.Request(URL + "/api/lora/acme/metadata", headers={"If-None-Match": body["etag"]})
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(req, timeout=30)
    assert not_modified.value.code == 304


def test_list_and_bad_ids():
    status, body = request("GET", "/api/lora/list")
    assert status == 200 and "acme" in [b["brand_id"] for b in body["brands"]]
    for path, code in (("/api/lora/..%2F..%2Fuser/metadata", 400), ("/api/lora/nobody_here/metadata", 404)):
        assert request("GET", path)[0] == code


async def test_broken_and_wrong_family_brands_fall_back_with_warnings():
    prompt, node_id = _stack_prompt(brand="lab_sdxl", weight=_fresh_weight(),
                                    lora_configs="lab_broken: 0.5\nstudio_photo: 0.4")
    history = await run_prompt(prompt)
    text = "\n".join(history["outputs"][node_id]["text"])
    assert "WARNING: lab_sdxl / brands/lab_sdxl/style.safetensors: this LoRA is for sdxl" in text
    assert "WARNING: lab_broken / brands/lab_broken/style.safetensors" in text and "truncated" in text
    assert "studio_photo (unversioned)" in text and ": applied" in text
    assert any(node.get("images") for node in history["outputs"].values())
    fallbacks = _stats()["fallbacks"]
    assert fallbacks.get("family_mismatch", 0) >= 1 and fallbacks.get("truncated_file", 0) >= 1


def test_strict_mode_and_bad_input_are_refused_at_queue_time():
    for inputs, expected in (({"brand": "lab_broken", "strict": True}, "lab_broken"),
                             ({"brand": "../x"}, "is a path"),
                             ({"lora_configs": '[{"brand_id": "acme", "weight": 3}]'}, "outside the allowed range")):
        prompt, _ = _stack_prompt(**inputs)
        status, body = request("POST", "/prompt", {"prompt": prompt})
        assert status == 400 and expected in json.dumps(body["node_errors"]), body


async def test_all_arms_renders_one_image_per_arm_in_one_queue():
    prompt, node_id = _stack_prompt(ab_mode="all arms", lora_configs="", weight=_fresh_weight(),
                                    ab_arms=f"{_fresh_weight()}, {_fresh_weight()}")
    history = await run_prompt(prompt)
    images = [image for node in history["outputs"].values() for image in node.get("images", [])]
    assert len(images) == 2
    assert "\n".join(history["outputs"][node_id]["text"]).count("arm acme=") == 2
