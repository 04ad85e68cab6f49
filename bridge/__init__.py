"""The one seam to ComfyUI: the only code that imports ``comfy.*``, ``comfy_api``, ``folder_paths`` or ``server``.

Every import of ComfyUI happens inside a function, so importing the pack outside ComfyUI (tests, the CLI,
pip) never fails; :func:`in_comfyui` tells callers whether the seam is live.
"""

from __future__ import annotations

import importlib.util


def in_comfyui() -> bool:
    """True when ComfyUI's modules are importable (we are loaded by ComfyUI or run beside a checkout)."""
    try:
        return importlib.util.find_spec("comfy_api") is not None and importlib.util.find_spec("folder_paths") is not None
    except (ImportError, ValueError):
        return False
