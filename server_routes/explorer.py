"""CheckpointExplorer over HTTP: stats, tier pools, batches (plan and list), picks and the panel's settings.

Shapes (ComfyUI also serves every path under ``/api``):

- ``GET /checkpoints/stats[?tier=]`` -> ``{name: {"selected", "total", "selection_rate"}}`` (rate rounded
  to 4 decimals, 0.0 when total is 0; ``total`` counts drafts shown, i.e. saved with an image).
- ``GET /lora_lab/loras/stats[?tier=]`` -> the same shape per LoRA (a draft counts for each of its LoRAs;
  drafts without any count as ``"(no LoRA)"``).
- ``GET /lora_lab/pools`` / ``PUT`` ``{"tiers": {name: {"checkpoints": [...], "default"?}}}`` ->
  ``{"file", "installed_checkpoints", "tiers": {name: {"checkpoints", "installed", "missing", "default"}}}``.
- ``POST /lora_lab/batches`` ``{"tier", "count", "mode"?, "seed"?, "prompt"?, "explore_mode"?, "auto_lora"?,
  "family"?, "candidates"?}`` -> a recorded plan ``{"batch_id", "total_count", "distribution", "mode", "tier",
  "category", "reasons", "missing_checkpoints", "auto_lora", "groups": [{"group", "checkpoint", "drafts",
  "loras"}], "drafts": [{"id", "index", "checkpoint", "seed", "loras"}]}``. The seed's flags: ``explore_mode``
  (true: explore, false: quick) and ``auto_lora`` (each checkpoint group gets its own combination of the LoRAs
  the server discovers for the prompt, or of ``candidates`` ``[{"name", "strength"}]`` when given).
- ``GET /lora_lab/batches[?limit=20&before=<created>]`` -> ``{"batches": [{"id", "prompt", "mode", "tier",
  "category", "created", "drafts": [{"id", "index", "checkpoint", "loras", "seed", "image", "selected",
  "label"}]}]}``; ``image`` is ``{"filename", "subfolder", "type"}`` for ``/view`` or null.
- ``POST /lora_lab/picks`` ``{"draft_ids": [...], "selected": bool}`` -> ``{"recorded", "changed", "stats"}``.
- ``GET /lora_lab/settings`` / ``PUT`` (any subset) -> ``{"mode", "auto_lora", "prompt_categories"}``.
"""

from __future__ import annotations

import asyncio
import functools

from aiohttp import web

from ..engines.discovery import DiscoverOptions
from ..engines.explorer import PlanRequest
from ..engines.explorer.draft_flow import plan_with_loras
from ..engines.store.generations import LoraUse
from .http import ApiError, Route, read_json
from ..engines.lab import Lab

PLAN_FIELDS = {"tier", "count", "mode", "seed", "prompt"}
FLOW_FIELDS = {"explore_mode", "auto_lora", "family", "candidates"}
MAX_CANDIDATES = 10


async def _run(fn, *args):
    """SQLite and file work off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))


def _int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "bad_request", f"query parameter '{name}' must be an integer, got {raw!r}") from None


def _picks(body: dict) -> tuple[list[str], bool]:
    ids, selected = body.get("draft_ids"), body.get("selected")
    if set(body) - {"draft_ids", "selected"}:
        raise ApiError(400, "bad_request", f"unknown field(s) {sorted(set(body) - {'draft_ids', 'selected'})}")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise ApiError(400, "bad_request", "'draft_ids' must be a non-empty list of draft id strings")
    if not isinstance(selected, bool):
        raise ApiError(400, "bad_request", f"'selected' must be true or false, got {selected!r}")
    return ids, selected


def _plan_request(body: dict) -> PlanRequest:
    unknown = sorted(set(body) - PLAN_FIELDS - FLOW_FIELDS)
    if unknown:
        raise ApiError(400, "bad_request", f"unknown field(s) {unknown}; allowed: {sorted(PLAN_FIELDS | FLOW_FIELDS)}")
    if not isinstance(body.get("tier"), str):
        raise ApiError(400, "bad_request", "'tier' (a tier name) is required")
    fields = {key: value for key, value in body.items() if key in PLAN_FIELDS}
    explore = body.get("explore_mode")
    if explore is not None:
        if not isinstance(explore, bool):
            raise ApiError(400, "bad_request", f"'explore_mode' must be true or false, got {explore!r}")
        if fields.get("mode", "panel") not in ("panel", "explore" if explore else "quick"):
            raise ApiError(400, "bad_request", f"'explore_mode' {explore} contradicts 'mode' {fields['mode']!r}")
        fields["mode"] = "explore" if explore else "quick"
    return PlanRequest(**fields)


def _candidates(body: dict, services: Lab):
    """None (no LoRAs), the body's own candidates, or a call to the server's discovery for the prompt."""
    auto, given, family = body.get("auto_lora", False), body.get("candidates"), body.get("family", "unknown")
    if not isinstance(auto, bool):
        raise ApiError(400, "bad_request", f"'auto_lora' must be true or false, got {auto!r}")
    if not auto:
        if given is not None:
            raise ApiError(400, "bad_request", "'candidates' needs 'auto_lora': true")
        return None
    if given is not None:
        if not isinstance(given, list) or len(given) > MAX_CANDIDATES or not all(
                isinstance(c, dict) and set(c) == {"name", "strength"} for c in given):
            raise ApiError(400, "bad_request", f"'candidates' must list at most {MAX_CANDIDATES} "
                                               "{\"name\", \"strength\"} objects")
        uses = [LoraUse(c["name"], c["strength"]) for c in given]
        return lambda: uses
    if not isinstance(family, str) or len(family) > 32:
        raise ApiError(400, "bad_request", f"'family' must be a family name such as sd15, got {family!r}")
    options = DiscoverOptions(family=family, allow_unknown_family=True)
    prompt = body.get("prompt", "")
    return lambda: [LoraUse(p.name, p.strength) for p in services.discovery.discover(prompt, options).picks]


def routes(services: Lab) -> list[Route]:
    async def stats(request: web.Request) -> web.Response:
        return web.json_response(await _run(services.explorer.stats, request.query.get("tier")))

    async def lora_stats(request: web.Request) -> web.Response:
        return web.json_response(await _run(services.explorer.lora_stats, request.query.get("tier")))

    async def get_pools(request: web.Request) -> web.Response:
        return web.json_response(await _run(services.explorer.pools_view))

    async def put_pools(request: web.Request) -> web.Response:
        return web.json_response(await _run(services.explorer.set_pools, await read_json(request)))

    async def list_batches(request: web.Request) -> web.Response:
        before = request.query.get("before")
        try:
            before_value = None if before is None else float(before)
        except ValueError:
            raise ApiError(400, "bad_request", f"'before' must be a timestamp, got {before!r}") from None
        batches = await _run(services.explorer.recent, _int_query(request, "limit", 20), before_value)
        return web.json_response({"batches": batches})

    async def plan_batch(request: web.Request) -> web.Response:
        body = await read_json(request)
        plan_request, candidates = _plan_request(body), _candidates(body, services)
        return web.json_response(await _run(plan_with_loras, services.explorer, plan_request, candidates))

    async def picks(request: web.Request) -> web.Response:
        ids, selected = _picks(await read_json(request))
        return web.json_response(await _run(services.explorer.pick, ids, selected))

    async def get_settings(request: web.Request) -> web.Response:
        return web.json_response((await _run(services.explorer.settings)).to_dict())

    async def put_settings(request: web.Request) -> web.Response:
        body = await read_json(request)
        return web.json_response((await _run(services.explorer.update_settings, body)).to_dict())

    return [
        Route("GET", "/lora_lab/checkpoints/stats", stats, aliases=("/checkpoints/stats",)),
        Route("GET", "/lora_lab/loras/stats", lora_stats),
        Route("GET", "/lora_lab/pools", get_pools),
        Route("PUT", "/lora_lab/pools", put_pools),
        Route("GET", "/lora_lab/batches", list_batches),
        Route("POST", "/lora_lab/batches", plan_batch),
        Route("POST", "/lora_lab/picks", picks),
        Route("GET", "/lora_lab/settings", get_settings),
        Route("PUT", "/lora_lab/settings", put_settings),
    ]
