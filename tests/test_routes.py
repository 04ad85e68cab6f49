"""The routes skeleton on a bare aiohttp app: health, the /api mirror, JSON errors, bounded bodies."""

from __future__ import annotations

import pytest
from aiohttp import web

from comfyui_lora_lab.engines.lab import Lab
from comfyui_lora_lab.engines.lora_format import LoraFileError
from comfyui_lora_lab.server_routes import register
from comfyui_lora_lab.server_routes.app import build_app
from comfyui_lora_lab.server_routes.http import ApiError, json_handler, read_json


@pytest.fixture
def lab(tmp_path):
    return Lab(data_dir=tmp_path)


async def test_health_answers_with_version_and_capabilities_under_both_prefixes(aiohttp_client, lab):
    client = await aiohttp_client(build_app(lab))
    for path in ("/lora_lab/health", "/api/lora_lab/health"):
        response = await client.get(path)
        body = await response.json()
        assert response.status == 200
        assert body["version"] == lab.version
        assert body["capabilities"]["inspect"]["available"] is True


async def test_register_accepts_a_route_table_like_comfyuis(aiohttp_client, lab):
    table = web.RouteTableDef()
    register(table, lab)
    app = web.Application()
    app.add_routes(table)
    client = await aiohttp_client(app)
    assert (await client.get("/lora_lab/health")).status == 200


@pytest.mark.parametrize("exc,status,code", [
    (ApiError(409, "busy", "try later"), 409, "busy"),
    (LoraFileError("x.safetensors", "truncated"), 422, "bad_lora_file"),
    (FileNotFoundError("no such brand"), 404, "not_found"),
    (ValueError("weight must be in [0, 1]"), 400, "bad_request"),
    (RuntimeError("boom"), 500, "internal"),
])
async def test_errors_map_to_json_with_the_real_status(aiohttp_client, exc, status, code):
    async def failing(request):
        raise exc

    app = web.Application()
    app.router.add_get("/x", json_handler(failing))
    response = await (await aiohttp_client(app)).get("/x")
    body = await response.json()
    assert response.status == status
    assert body["error"]["code"] == code and body["error"]["message"]


async def test_request_bodies_are_bounded_and_must_be_json_objects(aiohttp_client):
    async def echo(request):
        return web.json_response(await read_json(request, max_bytes=100))

    app = web.Application()
    app.router.add_post("/echo", json_handler(echo))
    client = await aiohttp_client(app)
    assert (await client.post("/echo", json={"a": 1})).status == 200
    too_big = await client.post("/echo", data=b'{"a": "' + b"x" * 200 + b'"}')
    assert too_big.status == 413 and (await too_big.json())["error"]["code"] == "too_large"
    not_json = await client.post("/echo", data=b"\xff\xfe")
    assert not_json.status == 400
    a_list = await client.post("/echo", json=[1, 2])
    assert a_list.status == 400 and "JSON object" in (await a_list.json())["error"]["message"]
