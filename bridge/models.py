"""Facts about ComfyUI MODEL/CLIP objects that engines need, as plain values."""

from __future__ import annotations

_MODEL_FAMILIES = {"SD15": "sd15", "SDXL": "sdxl", "SD3": "sd3", "Flux": "flux"}
_CLIP_FAMILIES = {"SD1ClipModel": "sd15", "SDXLClipModel": "sdxl", "SD3ClipModel": "sd3", "FluxClipModel": "flux"}


def _family_from_mro(obj, table: dict[str, str]) -> str:
    for klass in type(obj).__mro__:
        if klass.__name__ in table:
            return table[klass.__name__]
    return "unknown"


def model_family(model) -> str:
    """sd15 / sdxl / sd3 / flux / unknown for a MODEL (ModelPatcher), from ComfyUI's detected config."""
    if model is None:
        return "unknown"
    config = getattr(getattr(model, "model", None), "model_config", None)
    return _family_from_mro(config, _MODEL_FAMILIES) if config is not None else "unknown"


def clip_family(clip) -> str:
    """sd15 / sdxl / sd3 / flux / unknown for a CLIP object, from its text-encoder class."""
    if clip is None:
        return "unknown"
    return _family_from_mro(getattr(clip, "cond_stage_model", None), _CLIP_FAMILIES)
