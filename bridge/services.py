"""Build the route services from ComfyUI's folders, and register the routes on its server."""

from __future__ import annotations

import logging
from pathlib import Path

from . import folders
from .server import prompt_server

log = logging.getLogger("lora_lab")


def comfy_services():
    from ..server_routes.services import Services

    return Services(
        data_dir=folders.user_dir() / "lora_lab",
        lora_dirs=lambda: [Path(p) for p in folders.folder_paths_of("loras")],
    )


def register_routes() -> bool:
    """Add our routes to ``PromptServer.instance.routes`` (ComfyUI mirrors them under /api). False if no server."""
    server = prompt_server()
    if server is None:
        return False
    from ..server_routes import register

    register(server.routes, comfy_services())
    return True
