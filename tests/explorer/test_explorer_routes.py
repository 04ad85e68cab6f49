"""The explorer's HTTP routes on a bare aiohttp app: exact shapes, /api mirror, refusals that record nothing."""

from __future__ import annotations

import pytest

from comfyui_lora_lab.engines.store import generations as g
from comfyui_lora_lab.server_routes.app import build_app
from comfyui_lora_lab.engines.lab import Lab

INSTALLED = ["a.safetensors", "b.safetensors", "c.safetensors"]


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    services = Lab(data_dir=tmp_path, checkpoint_names=lambda: list(INSTALLED))
    client = await aiohttp_client(build_app(services))
    response = await client.put("/lora_lab/pools", json={"tiers": {"t": {"checkpoints": INSTALLED}}})
    assert response.status == 200
    client.services = services
    return client


async def _plan_and_save(client, count=4, seed=1):
    response = await client.post("/api/lora_lab/batches", json={"tier": "t", "count": count, "mode": "explore",
                                                                "seed": seed, "prompt": "a cat"})
    plan = await response.json()
    assert response.status == 200, plan
    client.services.explorer.record_images(plan["batch_id"], [
        g.DraftImage(d["index"], d["checkpoint"], g.ImageRef(f"{d['index']}.png"), (g.LoraUse("x.safetensors", 0.5),))
        for d in plan["drafts"]])
    return plan


async def _snapshot(client):
    return [await (await client.get(path)).json()
            for path in ("/checkpoints/stats", "/lora_lab/pools", "/lora_lab/batches", "/lora_lab/settings")]


async def test_stats_have_exactly_the_agreed_shape(client):
    assert await (await client.get("/api/checkpoints/stats")).json() == {
        name: {"selected": 0, "total": 0, "selection_rate": 0.0} for name in INSTALLED}
    plan = await _plan_and_save(client)
    response = await client.post("/lora_lab/picks", json={"draft_ids": [plan["drafts"][0]["id"]], "selected": True})
    body = await response.json()
    assert response.status == 200 and body["recorded"] == 1 and body["changed"] == 1
    stats = await (await client.get("/checkpoints/stats")).json()
    first = plan["drafts"][0]["checkpoint"]
    total = plan["distribution"][first]
    assert stats[first] == {"selected": 1, "total": total, "selection_rate": round(1 / total, 4)}
    assert body["stats"] == {first: stats[first]}
    assert all(set(v) == {"selected", "total", "selection_rate"} for v in stats.values())
    again = await (await client.post("/lora_lab/picks", json={"draft_ids": [plan["drafts"][0]["id"]],
                                                              "selected": True})).json()
    assert again["changed"] == 0 and await (await client.get("/checkpoints/stats")).json() == stats
    assert set(await (await client.get("/checkpoints/stats?tier=t")).json()) == set(INSTALLED)


async def test_batches_list_drafts_with_image_references_and_labels(client):
    plan = await _plan_and_save(client)
    body = await (await client.get("/api/lora_lab/batches?limit=5")).json()
    batch = body["batches"][0]
    assert batch["id"] == plan["batch_id"] and batch["prompt"] == "a cat" and batch["mode"] == "explore"
    draft = batch["drafts"][0]
    assert set(draft) == {"id", "index", "checkpoint", "loras", "seed", "image", "selected", "label"}
    assert draft["image"] == {"filename": "0.png", "subfolder": "", "type": "output"}
    assert draft["loras"] == [{"name": "x.safetensors", "strength": 0.5}]
    assert draft["label"] == f"{draft['checkpoint'].removesuffix('.safetensors')} + x 0.5"
    older = await (await client.get(f"/lora_lab/batches?before={batch['created']}")).json()
    assert older == {"batches": []}


async def test_pools_report_installed_and_missing(client):
    pools = await (await client.get("/lora_lab/pools")).json()
    assert pools["installed_checkpoints"] == INSTALLED
    assert pools["tiers"] == {"t": {"checkpoints": INSTALLED, "installed": INSTALLED, "missing": [],
                                    "default": "a.safetensors"}}
    client.services.explorer.pools_path.write_text(
        '{"tiers": {"t": {"checkpoints": ["a.safetensors", "z.safetensors"]}}}')
    pools = await (await client.get("/lora_lab/pools")).json()
    assert pools["tiers"]["t"]["missing"] == ["z.safetensors"]
    assert pools["tiers"]["t"]["installed"] == ["a.safetensors"]


async def test_settings_round_trip(client):
    assert await (await client.get("/lora_lab/settings")).json() == {"mode": "explore", "auto_lora": False,
                                                                     "prompt_categories": False}
    response = await client.put("/lora_lab/settings", json={"mode": "quick", "auto_lora": True})
    assert await response.json() == {"mode": "quick", "auto_lora": True, "prompt_categories": False}
    plan = await (await client.post("/lora_lab/batches", json={"tier": "t", "count": 3})).json()
    assert plan["mode"] == "quick" and plan["distribution"] == {"a.safetensors": 3}


@pytest.mark.parametrize("method,path,body,status,code", [
    ("POST", "/lora_lab/picks", {"draft_ids": ["nope-0"], "selected": True}, 404, "not_found"),
    ("POST", "/lora_lab/picks", {"draft_ids": "x", "selected": True}, 400, "bad_request"),
    ("POST", "/lora_lab/picks", {"draft_ids": ["x"], "selected": "yes"}, 400, "bad_request"),
    ("POST", "/lora_lab/picks", {"draft_ids": ["x"], "selected": True, "extra": 1}, 400, "bad_request"),
    ("POST", "/lora_lab/picks", b"{not json", 400, "bad_json"),
    ("PUT", "/lora_lab/pools", {"tiers": {"t": {"checkpoints": ["a.safetensors", "gone.safetensors"]}}}, 400,
     "bad_request"),
    ("PUT", "/lora_lab/pools", {"tiers": {"t": {"checkpoints": ["a.safetensors"]}}}, 400, "bad_request"),
    ("PUT", "/lora_lab/pools", {"pools": {}}, 400, "bad_request"),
    ("POST", "/lora_lab/batches", {"tier": "t", "count": 0}, 400, "bad_request"),
    ("POST", "/lora_lab/batches", {"tier": "nope", "count": 4}, 404, "not_found"),
    ("POST", "/lora_lab/batches", {"tier": "t", "count": 4, "colour": "red"}, 400, "bad_request"),
    ("POST", "/lora_lab/batches", {"count": 4}, 400, "bad_request"),
    ("PUT", "/lora_lab/settings", {"mode": "sideways"}, 400, "bad_request"),
    ("GET", "/checkpoints/stats?tier=nope", None, 404, "not_found"),
    ("GET", "/lora_lab/batches?limit=0", None, 400, "bad_request"),
    ("GET", "/lora_lab/batches?limit=x", None, 400, "bad_request"),
])
async def test_bad_requests_are_refused_and_record_nothing(client, method, path, body, status, code):
    await _plan_and_save(client)
    before = await _snapshot(client)
    kwargs = {"data": body} if isinstance(body, bytes) else ({} if body is None else {"json": body})
    response = await client.request(method, path, **kwargs)
    answer = await response.json()
    assert response.status == status and answer["error"]["code"] == code and answer["error"]["message"]
    assert await _snapshot(client) == before


async def test_a_pick_for_a_draft_without_an_image_is_refused(client):
    response = await client.post("/lora_lab/batches", json={"tier": "t", "count": 2})
    draft = (await response.json())["drafts"][0]["id"]
    response = await client.post("/lora_lab/picks", json={"draft_ids": [draft], "selected": True})
    assert response.status == 400 and "without an image" in (await response.json())["error"]["message"]


async def test_the_seeds_batch_flags_plan_per_group_combinations_and_record_them(client):
    body = {"tier": "t", "count": 20, "seed": 2, "prompt": "beautiful anime girl", "explore_mode": True,
            "auto_lora": True, "candidates": [{"name": "anime_style_v2.safetensors", "strength": 0.7},
                                              {"name": "detailed_hair.safetensors", "strength": 0.5}]}
    response = await client.post("/api/lora_lab/batches", json=body)
    plan = await response.json()
    assert response.status == 200, plan
    assert plan["mode"] == "explore" and plan["auto_lora"] is True and plan["total_count"] == 20
    assert [len(g["loras"]) for g in plan["groups"]] == [1, 1, 2]
    assert [[lora["name"] for lora in g["loras"]] for g in plan["groups"]] == [
        ["anime_style_v2.safetensors"], ["detailed_hair.safetensors"],
        ["anime_style_v2.safetensors", "detailed_hair.safetensors"]]
    by_checkpoint = {g["checkpoint"]: g["loras"] for g in plan["groups"]}
    assert all(d["loras"] == by_checkpoint[d["checkpoint"]] for d in plan["drafts"])
    recorded = client.services.explorer.recent(1)[0]["drafts"]
    assert [d["loras"] for d in recorded] == [d["loras"] for d in plan["drafts"]]
    quick = await (await client.post("/lora_lab/batches", json={"tier": "t", "count": 2, "explore_mode": False})).json()
    assert quick["mode"] == "quick" and quick["groups"] == [] and quick["auto_lora"] is False


@pytest.mark.parametrize("body,message", [
    ({"explore_mode": "yes"}, "'explore_mode' must be true or false"),
    ({"explore_mode": True, "mode": "quick"}, "contradicts"),
    ({"auto_lora": 1}, "'auto_lora' must be true or false"),
    ({"candidates": []}, "'candidates' needs 'auto_lora': true"),
    ({"auto_lora": True, "candidates": [{"name": "x"}]}, "'candidates' must list"),
])
async def test_bad_seed_flags_are_refused_and_record_nothing(client, body, message):
    response = await client.post("/lora_lab/batches", json={"tier": "t", "count": 4, **body})
    assert response.status == 400 and message in (await response.json())["error"]["message"]
    assert client.services.explorer.recent(1) == []


async def test_lora_stats_count_each_lora_per_draft_shown(client):
    plan = await _plan_and_save(client, count=4)
    await client.post("/lora_lab/picks", json={"draft_ids": [plan["drafts"][0]["id"]], "selected": True})
    stats = await (await client.get("/api/lora_lab/loras/stats")).json()
    assert stats == {"x.safetensors": {"selected": 1, "total": 4, "selection_rate": 0.25}}
