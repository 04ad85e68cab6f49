"""Capabilities working together in a real ComfyUI: Checkpoint Explorer drafts made through a Brand LoRA
Stack in A/B mode are recorded with the brand LoRA of their arm, and a pick shows up in the brand's A/B results.
"""

from __future__ import annotations

import pytest

from comfyui_client import request, requires_comfyui, requires_comfyui_path, run_prompt
from integration.test_comfyui_brands import build_brand_library
from integration.test_comfyui_explorer import _explorer_prompt, two_checkpoint_tier  # noqa: F401 (fixture)

pytestmark = [pytest.mark.comfyui, requires_comfyui, requires_comfyui_path]
ARM_WEIGHTS = {0.3, 0.9}  # the acme brand's metadata.json ab_arms: subtle 0.3, bold 0.9


def _brand_drafts_prompt(tier: str) -> tuple[dict, str]:
    prompt, explorer, save = _explorer_prompt(tier, count=2, seed=5)
    prompt["brand"] = {"class_type": "LoRALabBrandLoRAStack", "inputs": {
        "model": [explorer, 0], "clip": [explorer, 1], "brand": "acme", "weight": 0.7, "lora_configs": "",
        "strict": True, "ab_mode": "assign by key", "ab_arms": "", "ab_key": [explorer, 5]}}
    for node in prompt.values():
        for name, value in node["inputs"].items():
            if node["class_type"] != "LoRALabBrandLoRAStack" and value in ([explorer, 0], [explorer, 1]):
                node["inputs"][name] = ["brand", value[1]]
    prompt[save]["inputs"]["lora_stack"] = ["brand", 2]
    return prompt, save


async def test_explorer_drafts_record_the_brand_arm_and_picks_reach_the_ab_results(two_checkpoint_tier):  # noqa: F811
    build_brand_library()
    prompt, _ = _brand_drafts_prompt(two_checkpoint_tier)
    await run_prompt(prompt)
    status, body = request("GET", "/api/lora_lab/batches?limit=1")
    assert status == 200
    drafts = body["batches"][0]["drafts"]
    assert len(drafts) == 2
    for draft in drafts:
        brand_loras = [lora for lora in draft["loras"] if lora["name"].startswith("brands/acme/")]
        assert len(brand_loras) == 1 and brand_loras[0]["strength"] in ARM_WEIGHTS, draft["loras"]
    before = {arm["arm"]: arm["picked"] for arm in request("GET", "/api/lora/acme/ab")[1]["arms"]}
    status, _ = request("POST", "/api/lora_lab/picks", {"draft_ids": [drafts[0]["id"]], "selected": True})
    assert status == 200
    arms = request("GET", "/api/lora/acme/ab")[1]["arms"]
    picked_weight = next(l["strength"] for l in drafts[0]["loras"] if l["name"].startswith("brands/acme/"))
    arm = next(a for a in arms if picked_weight in a["weights"].values())
    assert arm["picked"] == before[arm["arm"]] + 1
