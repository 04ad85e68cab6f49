"""A standalone aiohttp app with the pack's routes, served like ComfyUI serves them (``/x`` and ``/api/x``).

Used by tests, the browser tests and ``lora-lab`` servers outside ComfyUI.
"""

from __future__ import annotations

from aiohttp import web

from ..engines.lab import Lab
from . import install_json_errors, register

MAX_REQUEST_BYTES = 1024 * 1024
LAB = web.AppKey("lab", Lab)


def build_app(lab: Lab) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    install_json_errors(app)
    register(app.router, lab)
    register(app.router, lab, prefix="/api")
    app[LAB] = lab
    return app
