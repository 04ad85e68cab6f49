"""aiohttp routes over the engines, registered on ComfyUI's server (or any aiohttp app in tests).

``register(routes, lab)`` accepts ComfyUI's ``PromptServer.instance.routes`` (a ``RouteTableDef``,
which ComfyUI mirrors under ``/api``) or an ``app.router``. Each capability contributes a module with a
``routes(lab) -> list[Route]`` function listed in ``ROUTE_MODULES``; the shared state is the
:class:`~..engines.lab.Lab` the caller built (the bridge inside ComfyUI, the CLI or a test outside it).
"""

from __future__ import annotations

import dataclasses

from aiohttp import web

from ..engines.lab import Lab
from . import brands, discovery, explorer, health, refiner
from .http import MAX_REQUEST_LINE, Route, json_errors, json_handler, method_not_allowed, no_such_route

ROUTE_MODULES = (health, discovery, explorer, brands, refiner)
PARSER_LINE_LIMIT = 64 * 1024


def all_routes(lab: Lab) -> list[Route]:
    """Every route, each documented alias (the seed's paths) as a route of its own after its canonical path."""
    declared = [route for module in ROUTE_MODULES for route in module.routes(lab)]
    return [served for route in declared
            for served in (route, *(dataclasses.replace(route, path=alias, aliases=()) for alias in route.aliases))]


def register(routes, lab: Lab, prefix: str = "") -> list[Route]:
    """Add every route (wrapped in the JSON error mapping) to a RouteTableDef or UrlDispatcher.

    Each path gets its methods, then a route for any other method (405 with ``Allow``); last comes a catch-all
    under ``/lora_lab/`` (404). So a host's own catch-all (ComfyUI serves static files at ``/``) never answers
    our paths. A path's routes are added one after another, which makes aiohttp keep them on one resource.
    """
    declared = all_routes(lab)
    by_path: dict[str, list[Route]] = {}
    for route in declared:
        by_path.setdefault(route.path, []).append(route)
    for path, path_routes in by_path.items():
        for route in path_routes:
            _add(routes, route.method, prefix + path, json_handler(route.handler))
        _add(routes, "*", prefix + path, json_handler(method_not_allowed([r.method for r in path_routes])))
    _add(routes, "*", prefix + "/lora_lab/{tail:.*}", json_handler(no_such_route))
    return declared


def _add(routes, method: str, path: str, handler) -> None:
    if hasattr(routes, "add_route"):
        routes.add_route(method, path, handler)
    else:
        routes.route(method, path)(handler)


def install_json_errors(app: web.Application) -> bool:
    """Make every error on our paths JSON (:func:`.http.json_errors`) by adding the middleware first, so it also
    sees what the host's own middlewares answer; False when the app already runs (middlewares are frozen)."""
    if app.frozen:
        return False
    if json_errors not in app.middlewares:
        app.middlewares.insert(0, json_errors)
    _widen_request_line_limit(app)
    return True


def _widen_request_line_limit(app: web.Application) -> None:
    """Let request lines up to :data:`PARSER_LINE_LIMIT` reach the middleware, which answers those over aiohttp's
    own limit itself (JSON 414 on our paths, the same plain 400 elsewhere); otherwise aiohttp's parser would
    answer them in plain text before any application code runs. aiohttp reads these server settings from the
    app's ``handler_args`` when the server starts; it has no public setter once the host built the app."""
    handler_args = dict(getattr(app, "_handler_args", None) or {})
    if handler_args.get("max_line_size", MAX_REQUEST_LINE) < PARSER_LINE_LIMIT:
        handler_args["max_line_size"] = PARSER_LINE_LIMIT
        app._handler_args = handler_args
