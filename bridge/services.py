"""One route/node ``Services`` per ComfyUI process, built from ComfyUI's folders; route registration."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from . import folders
from .server import prompt_server

log = logging.getLogger("lora_lab")


@functools.lru_cache(maxsize=1)
def shared_services():
    """The Services the routes and the nodes share (state in ``<ComfyUI user dir>/lora_lab/``)."""
    from ..server_routes.services import Services

    return Services(
        data_dir=folders.user_dir() / "lora_lab",
        lora_dirs=lambda: [Path(p) for p in folders.folder_paths_of("loras")],
        refiner_model_dirs=lambda: [Path(p) for p in folders.folder_paths_of("prompt_refiner")],
        checkpoint_names=lambda: folders.list_files("checkpoints"),
    )


def register_routes() -> bool:
    """Add our routes to ``PromptServer.instance.routes`` (ComfyUI mirrors them under /api). False if no server."""
    server = prompt_server()
    if server is None:
        return False
    from ..server_routes import register

    register(server.routes, shared_services())
    return True
