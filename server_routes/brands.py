"""Brand library and cache routes (the seed's paths; ComfyUI also serves them under ``/api``).

``GET /lora/list``                 brands with their roles and versions (names only, from a kept scan)
``GET /lora/{brand_id}/metadata``  sidecar + per-file header facts, with an ETag (``If-None-Match`` -> 304)
``GET /lora/{brand_id}/ab``        A/B arms of a brand and per-arm results from the generation store
``GET /lora/cache/stats``          hits, misses, evictions, bytes, hit rate, load timings, fallbacks, preload
``POST /lora/cache/clear``         drop every cached LoRA (counters are kept)

Brand ids come from the URL and are validated by the engine (400 for ``..%2Fx``, NUL bytes, long ids).
Everything that touches the disk runs in the default executor, never on ComfyUI's event loop.
"""

from __future__ import annotations

import asyncio
import functools

from aiohttp import web

from ..engines.brands import brand_experiment, listing
from ..engines.lab import Lab
from .http import Route

MAX_ARMS_QUERY = 4096


async def _blocking(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


def routes(lab: Lab) -> list[Route]:
    async def brand_list(request: web.Request) -> web.Response:
        return web.json_response(await _blocking(listing, lab.brands.library))

    async def brand_metadata(request: web.Request) -> web.Response:
        memo = lab.brands.metadata
        brand_id = request.match_info["brand_id"]
        etag = await _blocking(memo.etag, brand_id)
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers={"ETag": etag})
        etag, body = await _blocking(memo.get, brand_id)
        return web.json_response(body, headers={"ETag": etag, "Cache-Control": "no-cache"})

    async def brand_ab(request: web.Request) -> web.Response:
        arms = request.query.get("arms", "")
        if len(arms) > MAX_ARMS_QUERY:
            raise ValueError(f"'arms' is {len(arms):,} characters; the limit is {MAX_ARMS_QUERY:,}")
        brands = lab.brands
        body = await _blocking(brand_experiment, brands.library, lab.database, request.match_info["brand_id"],
                               arms)
        return web.json_response(body)

    async def cache_stats(request: web.Request) -> web.Response:
        return web.json_response(lab.brands.stats())

    async def cache_clear(request: web.Request) -> web.Response:
        cleared = lab.brands.cache.clear()
        return web.json_response({**cleared, "stats": lab.brands.cache.snapshot()})

    return [
        Route("GET", "/lora/list", brand_list),
        Route("GET", "/lora/cache/stats", cache_stats),
        Route("POST", "/lora/cache/clear", cache_clear),
        Route("GET", "/lora/{brand_id}/metadata", brand_metadata),
        Route("GET", "/lora/{brand_id}/ab", brand_ab),
    ]
