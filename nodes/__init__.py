"""ComfyUI node adapters: each module declares a ``SPEC`` and a thin ``execute`` over an engine.

``NODE_MODULES`` is the list of nodes the pack ships; the root ``__init__`` turns it into
``NODE_CLASS_MAPPINGS`` through the bridge when ComfyUI is present.
"""

from __future__ import annotations

from . import (auto_lora, brand_stack, checkpoint_explorer, lora_inspect, lora_trainer, prompt_refiner, save_drafts,
               text_to_lora)

NODE_MODULES = (lora_inspect, auto_lora, checkpoint_explorer, save_drafts, brand_stack, lora_trainer, prompt_refiner,
                text_to_lora)


def node_class_mappings() -> dict:
    """{node id: V3 class} inside ComfyUI; {} anywhere else (importing the pack must never fail)."""
    from ..bridge import in_comfyui

    if not in_comfyui():
        return {}
    from ..bridge.v3 import build_node

    return {module.SPEC.node_id: build_node(module) for module in NODE_MODULES}


def display_name_mappings() -> dict[str, str]:
    return {module.SPEC.node_id: module.SPEC.display_name for module in NODE_MODULES}
