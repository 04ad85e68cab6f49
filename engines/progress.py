"""How engines report progress and learn that the user wants them to stop.

Engines never import ComfyUI. A long loop takes a :class:`Progress` and calls it once per step; inside
ComfyUI the bridge supplies one that drives ``comfy.utils.ProgressBar`` and raises ComfyUI's interrupt
exception, so an interrupt surfaces at the next step without the engine knowing about ComfyUI.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called after each unit of work; may raise to stop the caller (an interrupt)."""

    def __call__(self, done: int, total: int, message: str = "") -> None: ...


def no_progress(done: int, total: int, message: str = "") -> None:
    """The default: report nothing, never interrupt."""
