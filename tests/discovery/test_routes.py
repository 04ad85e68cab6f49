"""The discovery routes on a bare aiohttp app (as ComfyUI serves them: under / and /api/)."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.server_routes.app import build_app
from comfyui_lora_lab.engines.lab import Lab

from discovery_fixtures import standard_library


@pytest.fixture
async def client(tmp_path, aiohttp_client):
    folder = tmp_path / "loras"
    standard_library(folder)
    services = Lab(data_dir=tmp_path / "data", lora_dirs=lambda: [folder])
    services.discovery.refresh()
    return await aiohttp_client(build_app(services))


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_list_filter_and_page(client, prefix):
    response = await client.get(f"{prefix}/lora_lab/loras", params={"family": "sd15", "limit": "2", "offset": "1"})
    body = await response.json()
    assert response.status == 200 and body["total"] == 6 and len(body["items"]) == 2 and body["offset"] == 1
    assert body["status"]["state"] == "ready" and body["status"]["entries"] == 9
    tagged = await (await client.get(f"{prefix}/lora_lab/loras", params={"tag": "character"})).json()
    assert [item["name"] for item in tagged["items"]] == ["makimaChainsawMan_v10.safetensors"]
    text = await (await client.get(f"{prefix}/lora_lab/loras", params={"q": "papercut"})).json()
    assert text["items"][0]["triggers"] == ["papercut"] and "terms" not in text["items"][0]


@pytest.mark.parametrize("params,message", [({"limit": "0"}, "limit"), ({"limit": "x"}, "integer"),
                                            ({"offset": "-1"}, "offset"), ({"q": "a" * 300}, "longer")])
async def test_bad_list_parameters_are_400(client, params, message):
    response = await client.get("/lora_lab/loras", params=params)
    assert response.status == 400 and message in (await response.json())["error"]["message"]


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_discover_ranks_with_reasons(client, prefix):
    response = await client.post(f"{prefix}/lora_lab/discover", json={"prompt": "a fox, ghibli style, papercut",
                                                                      "family": "sd15", "k": 2, "variations": 2})
    body = await response.json()
    assert response.status == 200
    assert {p["name"] for p in body["picks"]} == {"ghibli_style_v2.safetensors", "lora_3f9a1c.safetensors"}
    assert all(p["reasons"] and 0.5 <= p["strength"] <= 0.8 for p in body["picks"])
    assert len(body["variants"]) == 2 and body["variants"][0]["stack"][0][0].endswith(".safetensors")
    assert any(k["word"] == "ghibli" for k in body["keywords"])


async def test_discover_without_family_and_with_nothing_to_find(client):
    body = await (await client.post("/lora_lab/discover", json={"prompt": "!!!", "family": None})).json()
    assert body["picks"] == [] and body["family"] == "unknown" and body["abstained_reason"]


@pytest.mark.parametrize("body,status,code", [
    ({}, 400, "bad_request"), ({"prompt": 5}, 400, "bad_request"), ({"prompt": "x", "k": 99}, 400, "bad_request"),
    ({"prompt": "x", "bogus": 1}, 400, "bad_request"), ({"prompt": "x", "threshold": "high"}, 400, "bad_request"),
    ({"prompt": "x" * 20_001}, 413, "too_large"),
])
async def test_bad_discover_bodies(client, body, status, code):
    response = await client.post("/lora_lab/discover", json=body)
    assert response.status == status and (await response.json())["error"]["code"] == code


async def test_bodies_must_be_json_objects(client):
    assert (await client.post("/lora_lab/discover", data=b"[1]")).status == 400
    assert (await client.post("/lora_lab/discover", data=b"\xff")).status == 400


async def test_refresh_starts_in_the_background(client):
    response = await client.post("/api/lora_lab/loras/refresh")
    body = await response.json()
    assert response.status == 202 and isinstance(body["started"], bool) and "entries" in body["status"]


@pytest.mark.parametrize("prompt", ["一只猫在屋顶上, ghibli style", "🐉🔥 dragon ✨" * 50, "x" * 10_000, "a\\b\\c/d/e",
                                    "<lora:sub/folder/x:0.7> <lora:FLUX\\\\Anime Art V3:1>", "\x00\u202e\ufeff"])
async def test_odd_prompts_answer_json_without_crashing(client, prompt):
    response = await client.post("/lora_lab/discover", json={"prompt": prompt, "family": "sd15"})
    body = await response.json()
    assert response.status == 200 and isinstance(body["picks"], list) and body["prompt"]
