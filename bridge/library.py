"""The LoRA library inside ComfyUI: the index is refreshed in a background thread once the server runs
(never during start-up). ComfyUI itself already lists ``output/loras`` among the LoRA folders (main.py)."""

from __future__ import annotations


def schedule_library_refresh() -> bool:
    """Refresh the index in a background thread when the server starts; False outside a running server."""
    from .server import prompt_server
    from .services import shared_lab

    server = prompt_server()
    app = getattr(server, "app", None)
    if app is None:
        return False

    async def start(_app) -> None:
        shared_lab().discovery.start_refresh()

    app.on_startup.append(start)
    return True
