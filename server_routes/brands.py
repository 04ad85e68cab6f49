"""Brand library and cache routes (ComfyUI also serves them under ``/api``; the seed's paths are aliases).

``GET /lora_lab/brands`` (``/lora/list``)    brands with their roles and versions (names only, from a kept scan)
``GET /lora_lab/brands/{brand_id}/metadata`` (``/lora/{brand_id}/metadata``)  sidecar + per-file header facts,
                                             with an ETag (``If-None-Match`` -> 304)
``GET /lora_lab/brands/{brand_id}/ab`` (``/lora/{brand_id}/ab``)  A/B arms of a brand and per-arm results
``GET /lora_lab/cache/stats`` (``/lora/cache/stats``)  hits, misses, evictions, bytes, hit rate, load timings,
                                             fallbacks, preload
``POST /lora_lab/cache/clear`` (``/lora/cache/clear``)  drop every cached LoRA (counters are kept)

Brand ids come from the URL and are validated by the engine (400 for ``..%2Fx``, NUL bytes, long ids).
Everything that touches the disk runs in the default executor, never on ComfyUI's event loop.
"""

from __future__ import annotations

import asyncio
import functools

from aiohttp import web

from ..engines.brands.ab import brand_experiment
from ..engines.brands.describe import listing
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
        Route("GET", "/lora_lab/brands", brand_list, aliases=("/lora/list",)),
        Route("GET", "/lora_lab/cache/stats", cache_stats, aliases=("/lora/cache/stats",)),
        Route("POST", "/lora_lab/cache/clear", cache_clear, aliases=("/lora/cache/clear",)),
        Route("GET", "/lora_lab/brands/{brand_id}/metadata", brand_metadata, aliases=("/lora/{brand_id}/metadata",)),
        Route("GET", "/lora_lab/brands/{brand_id}/ab", brand_ab, aliases=("/lora/{brand_id}/ab",)),
    ]
