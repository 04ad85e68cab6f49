"""One ``Lab`` per ComfyUI process, built from ComfyUI's folders, and the registration of its routes."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from ..engines.lab import Lab
from . import folders
from .server import prompt_server

log = logging.getLogger("lora_lab")


@functools.lru_cache(maxsize=1)
def shared_lab() -> Lab:
    """The Lab the routes and the nodes share (state in ``<ComfyUI user dir>/lora_lab/``)."""
    return Lab(
        data_dir=folders.user_dir() / "lora_lab",
        lora_dirs=lambda: [Path(p) for p in folders.folder_paths_of("loras")],
        refiner_model_dirs=lambda: [Path(p) for p in folders.folder_paths_of("prompt_refiner")],
        checkpoint_names=lambda: folders.list_files("checkpoints"),
    )




def register_routes() -> bool:
    """Add our routes to ``PromptServer.instance.routes`` (ComfyUI mirrors them under /api) and make every error
    on our paths JSON (a middleware on ``PromptServer.instance.app``, which ComfyUI starts after importing the
    custom nodes). False if no server."""
    server = prompt_server()
    if server is None:
        return False
    from ..server_routes import install_json_errors, register

    register(server.routes, shared_lab())
    if not install_json_errors(server.app):
        log.warning("LoRA Lab: the server already runs; errors on its paths stay as aiohttp writes them")
    return True
