"""PromptRefiner over HTTP: ``POST /lora_lab/refiner/refine``, ``GET /lora_lab/refiner/models``,
``POST /lora_lab/refiner/unload`` (the seed's ``/prompt_refiner/...`` paths are aliases).

``refine`` takes ``{prompt, max_new_tokens?, seed?}`` (no seed: greedy, the same bytes every time; a seed:
sampled from it) and answers ``{refined, model, adapter, ms, ...}``. One generation runs at a time per model;
up to ``queue_size`` wait (more get 503 ``busy``), each until its deadline (then 504 ``timeout``). No configured
model is 503 ``no_model`` with the reason. The same handlers serve ComfyUI and ``lora-lab refiner serve``.
"""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web

from ..engines.lab import Lab
from ..engines.prompt_refiner.generation import DecodeSettings
from ..engines.prompt_refiner.runtime import MAX_PROMPT_CHARS, check_prompt
from .http import ApiError, Route, read_json

# A prompt of MAX_PROMPT_CHARS characters, each up to 6 bytes as a JSON \u escape, plus the other fields.
MAX_BODY = MAX_PROMPT_CHARS * 6 + 1024


def _decode_settings(body: dict, default_max_new_tokens: int) -> DecodeSettings:
    max_new_tokens, seed = body.get("max_new_tokens", default_max_new_tokens), body.get("seed")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise ApiError(400, "bad_request", f"max_new_tokens must be an integer, got {max_new_tokens!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ApiError(400, "bad_request", f"seed must be an integer or absent (greedy), got {seed!r}")
    unknown = sorted(set(body) - {"prompt", "max_new_tokens", "seed"})
    if unknown:
        raise ApiError(400, "bad_request", f"unknown fields {unknown}; send prompt, max_new_tokens, seed")
    return DecodeSettings(max_new_tokens=max_new_tokens, sample=seed is not None, seed=seed or 0)


def routes(lab: Lab) -> list[Route]:
    async def refine(request: web.Request) -> web.Response:
        body = await read_json(request, MAX_BODY)
        prompt = check_prompt(body.get("prompt"))
        service = lab.refiner
        settings = service.settings()
        decode = _decode_settings(body, settings.max_new_tokens)
        loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(service.executor(), service.route_model)
        loaded.queue.admit(settings.queue_size)
        deadline, cancel = time.monotonic() + settings.timeout_s, threading.Event()
        future = loop.run_in_executor(service.executor(), loaded.queue.run,
                                      lambda: loaded.refine(prompt, decode, deadline, cancel=cancel), deadline)
        try:
            result = await asyncio.shield(future)  # the thread always runs, so its queue place is always given back
        except asyncio.CancelledError:  # the client went away: stop generating at the next token
            cancel.set()
            future.add_done_callback(lambda done: done.exception())
            raise
        report = result.report()
        return web.json_response({"refined": result.refined, "model": result.model, "adapter": result.adapter,
                                  "ms": result.ms, "new_tokens": result.new_tokens, "structured": result.structured,
                                  "intent": report["intent"], "seed": result.seed})

    async def models(request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        return web.json_response(await loop.run_in_executor(None, lab.refiner.describe))

    async def unload(request: web.Request) -> web.Response:
        return web.json_response({"unloaded": lab.refiner.cache.unload()})

    return [
        Route("POST", "/lora_lab/refiner/refine", refine, max_body=MAX_BODY, aliases=("/prompt_refiner/refine",)),
        Route("GET", "/lora_lab/refiner/models", models, aliases=("/prompt_refiner/models",)),
        Route("POST", "/lora_lab/refiner/unload", unload, max_body=0, aliases=("/prompt_refiner/unload",)),
    ]
