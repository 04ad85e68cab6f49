"""Apply LoRA state dicts with ComfyUI's own ``comfy.sd.load_lora_for_models``, and count what matched.

We never patch weights ourselves: ComfyUI's loader knows every key layout and applies patches lazily.
What it does not do is report; it logs ``lora key not loaded: <key>`` for each file key no model weight
took. We capture those lines (only from this thread, only during the call) and count the weights that
received a patch, so nodes can show "412 keys matched, 0 unmatched" instead of a log flood.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

NOT_LOADED_PREFIX = "lora key not loaded: "


@dataclass
class ApplyReport:
    file_keys: int
    unmatched_keys: list[str] = field(default_factory=list)
    model_weights_patched: int = 0
    clip_weights_patched: int = 0

    @property
    def matched_keys(self) -> int:
        return self.file_keys - len(self.unmatched_keys)

    def to_dict(self, max_listed: int = 20) -> dict:
        return {
            "file_keys": self.file_keys,
            "matched_keys": self.matched_keys,
            "unmatched_keys": len(self.unmatched_keys),
            "unmatched_examples": self.unmatched_keys[:max_listed],
            "model_weights_patched": self.model_weights_patched,
            "clip_weights_patched": self.clip_weights_patched,
        }


class _NotLoadedCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.keys: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            message = record.getMessage()
            if message.startswith(NOT_LOADED_PREFIX):
                self.keys.append(message[len(NOT_LOADED_PREFIX):])


@contextmanager
def _collect_not_loaded():
    collector = _NotLoadedCollector()
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        yield collector
    finally:
        root.removeHandler(collector)


def _patched_count(before, after) -> int:
    if before is None or after is None:
        return 0
    old = getattr(before, "patches", {})
    return sum(1 for key, patches in after.patches.items() if len(patches) > len(old.get(key, ())))


def apply_lora(model, clip, tensors: Mapping, strength_model: float, strength_clip: float):
    """(patched MODEL or None, patched CLIP or None, ApplyReport). Inputs are never modified (clones)."""
    import comfy.sd

    with _collect_not_loaded() as collector:
        new_model, new_clip = comfy.sd.load_lora_for_models(model, clip, dict(tensors), strength_model, strength_clip)
    report = ApplyReport(
        file_keys=len(tensors),
        unmatched_keys=collector.keys,
        model_weights_patched=_patched_count(model, new_model),
        clip_weights_patched=_patched_count(getattr(clip, "patcher", None), getattr(new_clip, "patcher", None)),
    )
    return new_model, new_clip, report

