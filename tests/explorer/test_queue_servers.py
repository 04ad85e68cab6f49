"""``lora-lab queue`` over several ComfyUI servers: spread by checkpoint group, a lost server's drafts queued again
on the others, every draft recorded once. Two real aiohttp servers with our routes share one SQLite store (as
two ComfyUI processes with the same user directory do); their ``/prompt`` stand-ins "render" a draft by
recording its image the way Save Drafts does, when ``/history`` is first asked about it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from comfyui_lora_lab.cli import main
from comfyui_lora_lab.engines.explorer.server_spread import spread
from comfyui_lora_lab.engines.store import generations as g
from comfyui_lora_lab.server_routes.app import build_app
from comfyui_lora_lab.engines.lab import Lab

TEMPLATE = Path(__file__).parents[1] / "integration" / "txt2img_api.json"
INSTALLED = ["a.safetensors", "b.safetensors", "c.safetensors"]


def test_groups_stay_whole_and_go_to_the_least_loaded_server():
    drafts = [(i, "a") for i in range(7)] + [(i, "b") for i in range(7, 14)] + [(i, "c") for i in range(14, 20)]
    assert spread(drafts, ["s1", "s2"]) == {"s1": list(range(7)) + list(range(14, 20)), "s2": list(range(7, 14))}
    assert spread(drafts[14:], ["s1", "s2"], load={"s1": 5}) == {"s2": list(range(14, 20))}
    with pytest.raises(ValueError, match="twice"):
        spread(drafts, ["s1", "s1"])
    with pytest.raises(ValueError, match="no ComfyUI server left"):
        spread(drafts, [])


async def _comfy(aiohttp_server, data_dir: Path, lost: bool):
    services = Lab(data_dir=data_dir, checkpoint_names=lambda: list(INSTALLED))
    app, queued, rendered = build_app(services), {}, []

    async def prompt(request):
        body = (await request.json())["prompt"]
        queued[f"{id(app)}-{len(queued)}"] = body
        return web.json_response({"prompt_id": f"{id(app)}-{len(queued) - 1}", "number": len(queued)})

    async def history(request):
        prompt_id = request.match_info["prompt_id"]
        if lost:  # the server was stopped: the connection is cut
            request.transport.close()
            return web.Response()
        save = queued[prompt_id]["9"]["inputs"]
        if prompt_id not in rendered:
            rendered.append(prompt_id)
            services.explorer.record_images(save["batch_id"], [g.DraftImage(
                save["first_index"], save["checkpoint_name"], g.ImageRef(f"draft_{save['first_index']}.png"))])
        return web.json_response({prompt_id: {"status": {"completed": True, "status_str": "success"}}})

    app.router.add_post("/prompt", prompt)
    app.router.add_get("/history/{prompt_id}", history)
    running = await aiohttp_server(app)
    running.services, running.queued, running.rendered = services, queued, rendered
    return running


async def test_a_lost_servers_drafts_finish_on_the_other_and_each_is_recorded_once(aiohttp_server, tmp_path, capsys):
    first = await _comfy(aiohttp_server, tmp_path, lost=False)
    second = await _comfy(aiohttp_server, tmp_path, lost=True)
    first.services.explorer.set_pools({"tiers": {"t": {"checkpoints": INSTALLED}}})
    urls = [str(first.make_url("")).rstrip("/"), str(second.make_url("")).rstrip("/")]
    argv = ["queue", str(TEMPLATE), "--server", urls[0], "--server", urls[1], "--prompt", "a fox", "--count", "20",
            "--tier", "t", "--explore", "--seed", "5", "--no-auto-lora", "--wait", "--timeout", "60"]
    assert await asyncio.to_thread(main, argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert sorted(result["distribution"].values()) == [6, 7, 7]
    moved = {int(i) for i in result["requeued"]}
    assert len(moved) == 7 and all(v == {"from": urls[1], "to": urls[0]} for v in result["requeued"].values())
    assert result["gpu_distribution"] == {urls[0]: list(range(20))}
    assert result["status"] == {str(i): "success" for i in range(20)}
    assert len(second.queued) == 7 and len(first.queued) == 20 and len(first.rendered) == 20
    batch = first.services.explorer.recent(1)[0]
    assert [d["image"]["filename"] for d in batch["drafts"]] == [f"draft_{i}.png" for i in range(20)]
    assert sum(s["total"] for s in first.services.explorer.stats("t").values()) == 20


async def test_servers_that_do_not_share_the_store_are_refused(aiohttp_server, tmp_path, capsys):
    first = await _comfy(aiohttp_server, tmp_path / "one", lost=False)
    second = await _comfy(aiohttp_server, tmp_path / "two", lost=False)
    first.services.explorer.set_pools({"tiers": {"t": {"checkpoints": INSTALLED}}})
    argv = ["queue", str(TEMPLATE), "--server", str(first.make_url("")), "--server", str(second.make_url("")),
            "--prompt", "a fox", "--count", "4", "--tier", "t", "--explore", "--no-auto-lora"]
    assert await asyncio.to_thread(main, argv) == 2
    assert "--user-directory" in capsys.readouterr().err and first.queued == {} and second.queued == {}
