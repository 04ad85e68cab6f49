"""A standalone aiohttp app with the pack's routes, served like ComfyUI serves them (``/x`` and ``/api/x``).

Used by tests, the browser tests and ``lora-lab`` servers outside ComfyUI.
"""

from __future__ import annotations

from aiohttp import web

from . import register
from .services import Services

MAX_REQUEST_BYTES = 1024 * 1024
SERVICES = web.AppKey("services", Services)


def build_app(services: Services) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    register(app.router, services)
    register(app.router, services, prefix="/api")
    app[SERVICES] = services
    return app
