"""``GET /lora_lab/loras`` (the LoRA index, filterable and paginated), ``POST /lora_lab/discover`` (ranked LoRAs
for a prompt, with reasons) and ``POST /lora_lab/loras/refresh`` (re-scan the folders in the background)."""

from __future__ import annotations

import asyncio
import dataclasses

from aiohttp import web

from ..engines.discovery import DiscoverOptions
from .http import ApiError, Route, read_json
from ..engines.lab import Lab

MAX_LIMIT = 500
MAX_PROMPT_CHARS = 20_000
DISCOVER_FIELDS = {f.name for f in dataclasses.fields(DiscoverOptions)}
BODY_ALIASES = {"k": "max_loras"}


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "bad_request", f"'{name}' must be an integer, got '{raw[:40]}'") from None
    if not low <= value <= high:
        raise ApiError(400, "bad_request", f"'{name}' must be from {low} to {high}, got {value}")
    return value


def _text_param(request: web.Request, name: str, limit: int = 200) -> str:
    value = request.query.get(name, "")
    if len(value) > limit:
        raise ApiError(400, "bad_request", f"'{name}' is longer than {limit} characters")
    return value


def discover_options(body: dict) -> tuple[str, DiscoverOptions]:
    """The prompt and validated options from a request body; unknown fields are an error, not ignored."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise ApiError(400, "bad_request", "'prompt' must be a string")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(413, "too_large", f"'prompt' is {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}")
    fields = {BODY_ALIASES.get(key, key): value for key, value in body.items() if key != "prompt"}
    unknown = sorted(set(fields) - DISCOVER_FIELDS)
    if unknown:
        raise ApiError(400, "bad_request", f"unknown field(s) {', '.join(unknown)}; expected prompt and "
                                           f"{', '.join(sorted(DISCOVER_FIELDS | set(BODY_ALIASES)))}")
    if fields.get("family") is None:
        fields.pop("family", None)
    return prompt, DiscoverOptions(**fields)


def routes(services: Lab) -> list[Route]:
    async def list_loras(request: web.Request) -> web.Response:
        args = dict(family=_text_param(request, "family", 32), tag=_text_param(request, "tag"),
                    text=_text_param(request, "q"), offset=_int_param(request, "offset", 0, 0, 10**9),
                    limit=_int_param(request, "limit", 50, 1, MAX_LIMIT))
        library = services.discovery
        listing = await asyncio.get_running_loop().run_in_executor(None, lambda: library.listing(**args))
        return web.json_response(listing)

    async def discover(request: web.Request) -> web.Response:
        prompt, options = discover_options(await read_json(request))
        library = services.discovery
        result = await asyncio.get_running_loop().run_in_executor(None, library.discover, prompt, options)
        return web.json_response(result.to_dict())

    async def refresh(request: web.Request) -> web.Response:
        started = services.discovery.start_refresh()
        return web.json_response({"started": started, "status": services.discovery.status()}, status=202)

    return [Route("GET", "/lora_lab/loras", list_loras), Route("POST", "/lora_lab/discover", discover),
            Route("POST", "/lora_lab/loras/refresh", refresh)]
