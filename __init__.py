"""comfyui-lora-lab: ComfyUI nodes that make LoRAs a first-class, learning part of a graph.

Inside ComfyUI this module exposes the nodes, the web directory and registers the pack's routes.
Anywhere else (pip, tests, the ``lora-lab`` CLI) importing it only defines names: it never fails and
never does work at import time.
"""

from __future__ import annotations

import logging

from .bridge import in_comfyui
from .nodes import display_name_mappings, node_class_mappings

NODE_CLASS_MAPPINGS = node_class_mappings()
NODE_DISPLAY_NAME_MAPPINGS = {k: v for k, v in display_name_mappings().items() if k in NODE_CLASS_MAPPINGS}
WEB_DIRECTORY = "./web"

if in_comfyui():
    try:
        from .bridge.brand_preload import start_brand_preload
        from .bridge.folders import register_pack_folders
        from .bridge.library import schedule_library_refresh
        from .bridge.services import register_routes

        register_pack_folders()
        register_routes()
        schedule_library_refresh()
        start_brand_preload()
    except Exception:  # noqa: BLE001 - keep the nodes usable even if a route fails to register
        logging.getLogger("lora_lab").exception("LoRA Lab: could not register model folders or HTTP routes")

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
