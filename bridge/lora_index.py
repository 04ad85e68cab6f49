"""Tell the pack's LoRA index (discovery) about a LoRA a node just wrote, so it is findable without a rescan."""

from __future__ import annotations

import logging
from pathlib import Path


def register_new_lora(path: Path) -> bool:
    """Upsert ``path`` into the shared discovery index; False (logged) when it could not be indexed.

    ComfyUI's own loras list needs nothing: folder_paths re-scans a folder whose mtime changed.
    """
    from .services import shared_lab

    try:
        shared_lab().discovery.upsert(path)
    except (ValueError, OSError) as exc:  # outside the indexed folders, or gone again: the file itself is fine
        logging.getLogger("lora_lab").warning("new LoRA %s was not added to the LoRA index: %s", path, exc)
        return False
    return True
