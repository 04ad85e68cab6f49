"""The LoRA library inside ComfyUI: trained LoRAs in ``output/loras`` listed like the others, and the index
refreshed in the background once the server runs (never during start-up)."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("lora_lab")


def register_output_loras() -> None:
    """ComfyUI's own trainer saves to ``output/loras``; list that folder with the other LoRA folders.

    ComfyUI skips folders that do not exist yet, so adding it before the first training run is harmless.
    """
    import folder_paths

    path = os.path.join(folder_paths.get_output_directory(), "loras")
    paths, _ = folder_paths.folder_names_and_paths["loras"]
    if path not in paths:
        paths.append(path)


def schedule_library_refresh() -> bool:
    """Refresh the index in a background thread when the server starts; False outside a running server."""
    from .server import prompt_server
    from .services import shared_services

    server = prompt_server()
    app = getattr(server, "app", None)
    if app is None:
        return False

    async def start(_app) -> None:
        shared_services().discovery.start_refresh()

    app.on_startup.append(start)
    return True
