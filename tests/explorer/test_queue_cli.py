"""``lora-lab queue``: refuses bad input before recording anything, and queues one prompt per planned draft.

The end-to-end run against a real ComfyUI is in tests/integration/test_comfyui_explorer.py; here the
server is our real routes plus a stand-in for ComfyUI's ``/prompt`` that only records what it receives.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from comfyui_lora_lab.cli import main
from comfyui_lora_lab.server_routes.app import build_app
from comfyui_lora_lab.engines.lab import Lab

TEMPLATE = Path(__file__).parents[1] / "integration" / "txt2img_api.json"
INSTALLED = ["a.safetensors", "b.safetensors"]


def test_count_zero_is_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["queue", str(TEMPLATE), "--server", "http://127.0.0.1:9", "--prompt", "x", "--count", "0"])
    assert exit_info.value.code == 2 and "must be from 1 to 256" in capsys.readouterr().err


@pytest.mark.parametrize("content,message", [
    (None, "No such file"),
    ({"nodes": [], "links": []}, "UI-format workflow"),
    ({"1": {"class_type": "KSampler", "inputs": {}}}, "checkpoint loader"),
])
def test_a_bad_template_fails_before_contacting_the_server(tmp_path, capsys, content, message):
    path = tmp_path / "template.json"
    if content is not None:
        path.write_text(json.dumps(content))
    assert main(["queue", str(path), "--server", "http://127.0.0.1:9", "--prompt", "x"]) == 2
    assert message in capsys.readouterr().err


@pytest.fixture
async def server(aiohttp_server, tmp_path):
    services = Lab(data_dir=tmp_path, checkpoint_names=lambda: list(INSTALLED))
    services.explorer.set_pools({"tiers": {"t": {"checkpoints": INSTALLED}}})
    app, queued = build_app(services), []

    async def prompt(request):
        queued.append((await request.json())["prompt"])
        return web.json_response({"prompt_id": f"p{len(queued)}", "number": len(queued), "node_errors": {}})

    async def loras(request):
        return web.json_response({"LoraLoader": {"input": {"required": {"lora_name": [["x.safetensors"], {}]}}}})

    app.router.add_post("/prompt", prompt)
    app.router.add_get("/object_info/LoraLoader", loras)
    running = await aiohttp_server(app)
    running.queued, running.services = queued, services
    return running


async def test_queue_plans_records_and_queues_one_prompt_per_draft(server, capsys):
    argv = ["queue", str(TEMPLATE), "--server", str(server.make_url("")), "--prompt", "a fox", "--count", "5",
            "--tier", "t", "--explore", "--seed", "11", "--lora", "x.safetensors:0.6"]
    assert await asyncio.to_thread(main, argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["total_count"] == 5 and sum(result["distribution"].values()) == 5
    assert len(server.queued) == 5 and result["prompt_ids"] == [f"p{i}" for i in range(1, 6)]
    batch = server.services.explorer.recent(1)[0]
    assert batch["id"] == result["batch_id"] and batch["prompt"] == "a fox"
    for draft, prompt in zip(batch["drafts"], server.queued):
        save = prompt["9"]["inputs"]
        assert (save["batch_id"], save["first_index"], save["checkpoint_name"]) == (
            result["batch_id"], draft["index"], draft["checkpoint"])
        assert prompt["4"]["inputs"]["ckpt_name"] == draft["checkpoint"]
        assert prompt["3"]["inputs"]["seed"] == draft["seed"]
        assert prompt["lora_lab_lora_0"]["inputs"]["lora_name"] == "x.safetensors"


async def test_an_unknown_lora_is_refused_before_the_batch_is_recorded(server, capsys):
    argv = ["queue", str(TEMPLATE), "--server", str(server.make_url("")), "--prompt", "a fox", "--count", "2",
            "--tier", "t", "--lora", "nope.safetensors"]
    assert await asyncio.to_thread(main, argv) == 2
    assert "nope.safetensors" in capsys.readouterr().err
    assert server.services.explorer.recent(1) == [] and server.queued == []


async def test_auto_lora_gives_each_group_its_combination_of_the_servers_discovery(server, capsys, tmp_path):
    from safetensors.torch import save_file

    from lora_fixtures import kohya_sd15_tensors

    folder = tmp_path / "loras"
    folder.mkdir()
    save_file(kohya_sd15_tensors(), str(folder / "x.safetensors"), metadata={"modelspec.trigger_phrase": "foxstyle"})
    server.services.lora_dirs = lambda: [folder]
    server.services.discovery.refresh()
    argv = ["queue", str(TEMPLATE), "--server", str(server.make_url("")), "--prompt", "a fox, foxstyle", "--count",
            "2", "--tier", "t", "--family", "sd15", "--auto-lora", "--seed", "3"]
    assert await asyncio.to_thread(main, argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [len(g["loras"]) for g in result["groups"]] == [1, 0], "one candidate: x on one group, the control"
    with_lora = [p for p in server.queued if "lora_lab_lora_0" in p]
    assert len(with_lora) == 1 and with_lora[0]["lora_lab_lora_0"]["inputs"]["lora_name"] == "x.safetensors"
    assert with_lora[0]["4"]["inputs"]["ckpt_name"] == result["groups"][0]["checkpoint"]
    recorded = server.services.explorer.recent(1)[0]["drafts"]
    assert [d["loras"] for d in recorded if d["checkpoint"] == result["groups"][0]["checkpoint"]] == [
        result["groups"][0]["loras"]]
    argv[argv.index("a fox, foxstyle")] = "a dog in the snow"
    server.queued.clear()
    assert await asyncio.to_thread(main, argv) == 0
    assert all("lora_lab_lora_0" not in prompt for prompt in server.queued), "no evidence, no LoRA"
