"""The routes skeleton on a bare aiohttp app: health, the /api mirror, the /lora_lab namespace and its aliases,
JSON errors for every status (also what aiohttp answers before a handler), bounded bodies."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from comfyui_lora_lab.engines.lab import Lab
from comfyui_lora_lab.engines.lora_format import LoraFileError
from comfyui_lora_lab.server_routes import ROUTE_MODULES, all_routes, install_json_errors, register
from comfyui_lora_lab.server_routes.app import build_app
from comfyui_lora_lab.server_routes.http import ApiError, json_errors, json_handler, read_json


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


SEED_ALIASES = {"/checkpoints/stats", "/lora/list", "/lora/{brand_id}/metadata", "/lora/{brand_id}/ab",
                "/lora/cache/stats", "/lora/cache/clear", "/prompt_refiner/refine", "/prompt_refiner/models",
                "/prompt_refiner/unload"}


def test_every_route_lives_under_the_namespace_and_the_seed_paths_are_aliases(lab):
    declared = [route for module in ROUTE_MODULES for route in module.routes(lab)]
    assert [r.path for r in declared if not r.path.startswith("/lora_lab/")] == []
    assert {alias for r in declared for alias in r.aliases} == SEED_ALIASES
    served = {(r.method, r.path) for r in all_routes(lab)}
    assert ("GET", "/lora/list") in served and ("GET", "/lora_lab/brands") in served
    assert len(served) == len(all_routes(lab)), "no path is served twice"


async def raw_request(client, method: str, target: str) -> tuple[int, str, dict]:
    """Send the request line as written (no client-side normalisation of dot segments or lengths)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"{method} {target} HTTP/1.1\r\nHost: {client.host}\r\nConnection: close\r\n"
                 f"Content-Length: 0\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), json.loads(body) if body.startswith(b"{") else {}


@pytest.mark.parametrize("method,target,status,code", [
    ("GET", "/lora_lab/discover", 405, "method_not_allowed"),
    ("DELETE", "/api/lora_lab/pools", 405, "method_not_allowed"),
    ("POST", "/prompt_refiner/models", 405, "method_not_allowed"),
    ("GET", "/lora_lab/no_such_route", 404, "not_found"),
    ("GET", "/api/lora_lab/no_such_route", 404, "not_found"),
    ("GET", "/lora_lab/../lora_lab/health", 400, "bad_path"),
    ("GET", "/api/lora_lab/./health", 400, "bad_path"),
    ("GET", "/lora/%2e%2e/metadata", 400, "bad_path"),
    ("GET", "/lora_lab/brands/a/../b/metadata", 400, "bad_path"),
    ("GET", "/lora_lab/" + "x" * 8000, 404, "not_found"),
    ("GET", "/api/lora_lab/brands/" + "x" * 8000 + "/ab", 400, "bad_request"),
])
async def test_errors_aiohttp_answers_before_our_handlers_are_json_too(aiohttp_client, lab, method, target, status,
                                                                       code):
    client = await aiohttp_client(build_app(lab))
    got_status, content_type, body = await raw_request(client, method, target)
    assert (got_status, content_type.split(";")[0]) == (status, "application/json")
    assert body["error"]["code"] == code and body["error"]["message"]


@pytest.mark.parametrize("target", ["/lora_lab/" + "x" * 9000, "/api/lora/" + "y" * 20000 + "/metadata",
                                    "/prompt_refiner/refine?q=" + "z" * 9000])
async def test_targets_over_aiohttps_line_limit_are_a_json_414_on_our_paths(aiohttp_client, lab, target):
    got_status, content_type, body = await raw_request(await aiohttp_client(build_app(lab)), "GET", target)
    assert (got_status, content_type.split(";")[0]) == (414, "application/json")
    assert body["error"]["code"] == "uri_too_long" and str(len(target)) in body["error"]["message"]


async def test_over_long_targets_elsewhere_keep_the_plain_400_and_the_parser_still_has_a_limit(aiohttp_client, lab):
    client = await aiohttp_client(build_app(lab))
    status, content_type, _ = await raw_request(client, "GET", "/not_ours/" + "x" * 9000)
    assert (status, content_type.split(";")[0]) == (400, "text/plain")
    status, content_type, _ = await raw_request(client, "GET", "/lora_lab/" + "x" * 70000)
    assert status == 400, "past the widened parser limit aiohttp answers, as it did for any long line before"


async def test_a_wrong_method_names_the_allowed_ones(aiohttp_client, lab):
    response = await (await aiohttp_client(build_app(lab))).get("/lora_lab/picks")
    assert response.status == 405 and response.headers["Allow"] == "POST"
    assert "use POST" in (await response.json())["error"]["message"]


async def test_other_paths_keep_the_hosts_own_answers(aiohttp_client, lab):
    client = await aiohttp_client(build_app(lab))
    status, content_type, _ = await raw_request(client, "GET", "/not_ours/../x")
    assert status == 404 and content_type.startswith("text/plain")


async def test_in_a_comfyui_like_app_errors_of_the_hosts_middlewares_on_our_paths_become_json(aiohttp_client, lab,
                                                                                             tmp_path):
    """ComfyUI builds its app with middlewares (origin check -> 403 with no body), imports the packs (which add
    routes to its table), then adds the table and last its static files at ``/``, which take any GET."""
    @web.middleware
    async def origin_check(request, handler):
        return web.Response(status=403) if "Origin" in request.headers else await handler(request)

    app = web.Application(middlewares=[origin_check])
    table = web.RouteTableDef()
    register(table, lab)
    assert install_json_errors(app) and install_json_errors(app)
    assert list(app.middlewares) == [json_errors, origin_check], "first, so it sees the host's answers; once"
    app.add_routes(table)
    app.add_routes([web.static("/", tmp_path)])
    client = await aiohttp_client(app)
    for target, status in [("/lora_lab/discover", 405), ("/lora_lab/nope", 404), ("/lora_lab/" + "x" * 8000, 404),
                           ("/lora/a/../b", 400)]:
        got_status, content_type, body = await raw_request(client, "GET", target)
        assert (got_status, content_type.split(";")[0]) == (status, "application/json"), target
    refused = await client.get("/lora_lab/health", headers={"Origin": "http://evil.example"})
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "forbidden"
    assert (await client.get("/lora_lab/health")).status == 200
    wrong_method = await client.put("/lora/list")
    assert wrong_method.status == 405 and (await wrong_method.json())["error"]["code"] == "method_not_allowed"


async def test_the_middleware_is_not_added_to_a_running_app(aiohttp_client, lab):
    app = build_app(lab)
    await aiohttp_client(app)
    assert app.frozen and not install_json_errors(app)
