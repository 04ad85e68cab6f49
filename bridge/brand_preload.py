"""Start ``LORA_PRELOAD_BRANDS`` loading when ComfyUI imports the pack, without making start-up wait."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("lora_lab")


def start_brand_preload() -> bool:
    """Hand the listed brands to a background thread of the shared brand service; True if one started.

    Returns at once whatever the number of brands; a bad setting is logged (naming the variable) and
    preloading is skipped, because an import-time error would hide every node of the pack.
    """
    from ..engines.brands.config import preload_refs
    from ..engines.common.errors import ConfigError
    from .services import shared_lab

    try:
        refs = preload_refs(os.environ)
        if not refs:
            return False
        shared_lab().brands.start_preload(refs)
    except ConfigError as exc:
        log.error("LoRA Lab: brand preload skipped: %s", exc)
        return False
    return True
