"""POST /prompt_refiner/refine on a bare aiohttp app: answers, limits, bad input, busy/timeout, no model; stays usable."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from comfyui_lora_lab.server_routes.app import build_app
from comfyui_lora_lab.engines.lab import Lab

REFINE = "/prompt_refiner/refine"


def _services(tmp_path, root, **settings) -> Lab:
    if settings:
        (tmp_path / "prompt_refiner.json").write_text(json.dumps(settings))
    return Lab(data_dir=tmp_path, refiner_model_dirs=lambda: [root])


@pytest.fixture
async def client(aiohttp_client, tiny_models, tmp_path):
    services = _services(tmp_path, tiny_models.root, max_new_tokens=16)
    return await aiohttp_client(build_app(services))


async def _post(client, body, path=REFINE):
    response = await client.post(path, json=body) if not isinstance(body, bytes) else await client.post(path, data=body)
    return response.status, await response.json()


async def test_refine_answers_under_root_and_api_with_model_adapter_and_timing(client):
    for path in (REFINE, "/api" + REFINE):
        status, body = await _post(client, {"prompt": "create function"}, path)
        assert status == 200, body
        assert (body["model"], body["adapter"]) == ("tiny-t5", "tiny-refiner")
        assert isinstance(body["refined"], str) and body["ms"] > 0 and 1 <= body["new_tokens"] <= 16
        assert body["intent"]["content_words"] == ["create", "function"] and body["seed"] is None


async def test_greedy_repeats_and_a_seed_samples(client):
    greedy = [(await _post(client, {"prompt": "plan trip", "max_new_tokens": 12}))[1]["refined"] for _ in range(2)]
    assert greedy[0] == greedy[1]
    sampled = {seed: (await _post(client, {"prompt": "plan trip", "max_new_tokens": 12, "seed": seed}))[1]
               for seed in (5, 6)}
    assert sampled[5]["seed"] == 5 and sampled[5]["refined"] != sampled[6]["refined"]
    assert (await _post(client, {"prompt": "plan trip", "max_new_tokens": 12, "seed": 5}))[1] ["refined"] == \
        sampled[5]["refined"]


@pytest.mark.parametrize("body,status,code,message", [
    ({"prompt": ""}, 400, "bad_request", "prompt is empty"),
    ({"prompt": "  "}, 400, "bad_request", "prompt is empty"),
    ({}, 400, "bad_request", "prompt must be text"),
    ({"prompt": 5}, 400, "bad_request", "prompt must be text"),
    ({"prompt": "x" * 3000}, 400, "bad_request", "at most 2000"),
    ({"prompt": "x" * (100 * 1024)}, 413, "too_large", "limit"),
    ({"prompt": "ok", "max_new_tokens": 0}, 400, "bad_request", "max_new_tokens must be between"),
    ({"prompt": "ok", "max_new_tokens": "64"}, 400, "bad_request", "max_new_tokens must be an integer"),
    ({"prompt": "ok", "seed": True}, 400, "bad_request", "seed must be an integer"),
    ({"prompt": "ok", "temperature": 2}, 400, "bad_request", "unknown fields"),
    (b'{"prompt": "caf\xe9"}', 400, "bad_json", "not valid UTF-8"),
    (b'{"prompt": "\\ud800 lone surrogate"}', 400, "bad_request", "not valid UTF-8"),
    (b"[1, 2]", 400, "bad_json", "JSON object"),
])
async def test_bad_input_is_a_clear_4xx_and_the_model_stays_usable(client, body, status, code, message):
    got_status, got = await _post(client, body)
    assert (got_status, got["error"]["code"]) == (status, code) and message in got["error"]["message"]
    assert (await _post(client, {"prompt": "create function"}))[0] == 200


async def test_no_model_is_503_saying_where_to_put_what(aiohttp_client, tmp_path):
    client = await aiohttp_client(build_app(_services(tmp_path, tmp_path / "empty")))
    status, body = await _post(client, {"prompt": "create function"})
    assert (status, body["error"]["code"]) == (503, "no_model")
    assert "no adapter folder" in body["error"]["message"] and "models/prompt_refiner" in body["error"]["message"]
    models = await (await client.get("/prompt_refiner/models")).json()
    assert models["configured"] is None and "no adapter folder" in models["reason"]


async def test_a_configured_name_that_is_missing_is_503(aiohttp_client, tiny_models, tmp_path):
    client = await aiohttp_client(build_app(_services(tmp_path, tiny_models.root, adapter="gone")))
    status, body = await _post(client, {"prompt": "create function"})
    assert (status, body["error"]["code"]) == (503, "no_model") and "adapter 'gone'" in body["error"]["message"]


async def test_a_corrupt_adapter_is_503_with_the_reason_and_a_fixed_one_works(aiohttp_client, models_copy, tmp_path):
    weights = models_copy.adapter / "adapter_model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:-64])
    client = await aiohttp_client(build_app(_services(tmp_path, models_copy.root)))
    status, body = await _post(client, {"prompt": "create function"})
    assert (status, body["error"]["code"]) == (503, "model_unavailable") and "unreadable" in body["error"]["message"]
    weights.write_bytes(good)
    assert (await _post(client, {"prompt": "create function"}))[0] == 200


async def _until(condition, what: str) -> None:
    """Wait for another task to reach a state (an event, not a timing: bounded so a bug fails instead of hanging)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never reached: {what}")


def _occupy(queue):
    """Run a generation-like job that holds the model until the returned event is set (public queue API only)."""
    started, release = threading.Event(), threading.Event()
    queue.admit(None)
    worker = threading.Thread(target=queue.run, args=(lambda: (started.set(), release.wait(30)),))
    worker.start()
    assert started.wait(30)
    return release, worker


async def test_requests_beyond_the_queue_get_503_then_it_recovers(aiohttp_client, tiny_models, tmp_path):
    services = _services(tmp_path, tiny_models.root, queue_size=1, timeout_s=30, max_new_tokens=8)
    client = await aiohttp_client(build_app(services))
    assert (await _post(client, {"prompt": "warm up"}))[0] == 200
    loaded = services.refiner.route_model()
    release, worker = _occupy(loaded.queue)
    waiting = asyncio.create_task(_post(client, {"prompt": "create function"}))
    await _until(lambda: loaded.queue.admitted == 2, "the request waits in the queue")
    status, body = await _post(client, {"prompt": "one too many"})
    assert (status, body["error"]["code"]) == (503, "busy") and "the queue holds 1" in body["error"]["message"]
    release.set()
    worker.join(30)
    assert (await waiting)[0] == 200
    assert loaded.queue.admitted == 0


async def test_a_request_that_waits_past_its_deadline_is_504(aiohttp_client, tiny_models, tmp_path):
    services = _services(tmp_path, tiny_models.root, queue_size=2, timeout_s=0.2, max_new_tokens=8)
    client = await aiohttp_client(build_app(services))
    loaded = services.refiner.route_model()
    release, worker = _occupy(loaded.queue)
    status, body = await _post(client, {"prompt": "create function"})
    release.set()
    worker.join(30)
    assert (status, body["error"]["code"]) == (504, "timeout")
    assert loaded.queue.admitted == 0 and (await _post(client, {"prompt": "create function"}))[0] == 200


async def test_models_lists_folders_and_unload_frees_the_cache(client):
    assert (await _post(client, {"prompt": "create function"}))[0] == 200
    models = await (await client.get("/prompt_refiner/models")).json()
    assert models["configured"] == {"model": "tiny-t5", "adapter": "tiny-refiner"}
    assert models["bases"] == ["tiny-t5"] and models["adapters"] == ["tiny-refiner"] and len(models["loaded"]) == 1
    assert (await (await client.post("/prompt_refiner/unload")).json()) == {"unloaded": 1}
    assert (await _post(client, {"prompt": "create function"}))[0] == 200


async def test_bad_settings_file_is_reported(aiohttp_client, tiny_models, tmp_path):
    client = await aiohttp_client(build_app(_services(tmp_path, tiny_models.root, queue_len=3)))
    status, body = await _post(client, {"prompt": "create function"})
    assert (status, body["error"]["code"]) == (503, "bad_settings")
    assert "unknown keys ['queue_len']" in body["error"]["message"]
