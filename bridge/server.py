"""Access to ComfyUI's running ``PromptServer`` (routes table, websocket messages)."""

from __future__ import annotations


def prompt_server():
    """The running PromptServer, or None outside ComfyUI (or before the server exists)."""
    try:
        from server import PromptServer
    except ImportError:
        return None
    return getattr(PromptServer, "instance", None)


def send_event(event: str, data: dict) -> None:
    """Broadcast a custom websocket event (the panel may be open in another tab than the one that queued)."""
    server = prompt_server()
    if server is not None:
        server.send_sync(event, data)
