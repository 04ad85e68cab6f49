"""Engine progress callbacks backed by ComfyUI's progress bar and interrupt flag."""

from __future__ import annotations


def comfy_progress(total: int, node_id: str | None = None):
    """A :class:`engines.progress.Progress` that moves the node's bar and raises on a user interrupt.

    ``ProgressBar.update_absolute`` runs ComfyUI's hook, which already checks the interrupt flag; the
    explicit check also covers steps reported with an unchanged value.
    """
    import comfy.model_management
    import comfy.utils

    bar = comfy.utils.ProgressBar(max(int(total), 1), node_id=node_id)

    def report(done: int, total_now: int, message: str = "") -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        bar.update_absolute(done, total_now)
        if message and node_id is not None:
            _send_text(message, node_id)

    return report


def _send_text(message: str, node_id: str) -> None:
    try:
        from server import PromptServer
    except ImportError:
        return
    if PromptServer.instance is not None:
        PromptServer.instance.send_progress_text(message, node_id)
