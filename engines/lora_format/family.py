"""Which base model a LoRA was made for: declared in metadata, else inferred from key names and shapes.

Loading a LoRA made for another base model is the most common silent failure in ComfyUI (hundreds of
"lora key not loaded" lines, or a LoRA that applies with no visible effect). Everything that picks or
applies LoRAs checks the family first. Inference needs only key names and shapes, i.e. the header.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import LayoutError
from .layouts import CLIP_G, T5XXL, UNET, parse_keys

FAMILIES = ("sd15", "sdxl", "sd3", "flux", "unknown")

# (metadata key, value prefix, family): first match wins, so more specific prefixes come first.
DECLARED_FAMILY = (
    ("modelspec.architecture", "stable-diffusion-xl", "sdxl"),
    ("modelspec.architecture", "stable-diffusion-v1", "sd15"),
    ("modelspec.architecture", "stable-diffusion-3", "sd3"),
    ("modelspec.architecture", "stable-diffusion-v3", "sd3"),
    ("modelspec.architecture", "flux-1", "flux"),
    ("modelspec.architecture", "flux.1", "flux"),
    ("ss_base_model_version", "sdxl", "sdxl"),
    ("ss_base_model_version", "sd_v1", "sd15"),
    ("ss_base_model_version", "sd3", "sd3"),
    ("ss_base_model_version", "flux1", "flux"),
    ("ss_base_model_version", "flux.1", "flux"),
)

ARCHITECTURE = {  # family -> (modelspec.architecture for a LoRA, ss_base_model_version, implementation)
    "sd15": ("stable-diffusion-v1/lora", "sd_v1", "https://github.com/Stability-AI/generative-models"),
    "sdxl": ("stable-diffusion-xl-v1-base/lora", "sdxl_base_v1-0", "https://github.com/Stability-AI/generative-models"),
    "sd3": ("stable-diffusion-v3-medium/lora", "sd3", "https://github.com/Stability-AI/sd3.5"),
    "flux": ("flux-1-dev/lora", "flux1", "https://github.com/black-forest-labs/flux"),
    "unknown": ("unknown/lora", "unknown", "unknown"),
}

# Cross-attention context width seen by the UNet's attn2.to_k: 768 is SD1.x (CLIP-L), 2048 is SDXL.
_CONTEXT_WIDTH = {768: "sd15", 2048: "sdxl"}
_MARKERS = (("double_blocks", "flux"), ("single_blocks", "flux"), ("single_transformer_blocks", "flux"),
            ("joint_blocks", "sd3"), ("context_block", "sd3"))


@dataclass(frozen=True)
class FamilyInfo:
    family: str
    source: str  # declared | inferred | unknown
    evidence: str


def declared_family(metadata: Mapping[str, str]) -> FamilyInfo | None:
    for key, prefix, family in DECLARED_FAMILY:
        value = metadata.get(key, "").strip().lower()
        if value.startswith(prefix):
            return FamilyInfo(family, "declared", f"{key}={metadata[key]}")
    return None


def infer_family(shapes: Mapping[str, tuple[int, ...]]) -> FamilyInfo:
    """Infer from key names and shapes only (works on a header)."""
    try:
        _, parsed, _ = parse_keys(list(shapes))
    except LayoutError:
        return FamilyInfo("unknown", "unknown", "no LoRA keys recognised")
    components = {module.component for module, _ in parsed.values()}
    paths = [module.path for module, _ in parsed.values() if module.component == UNET]
    for marker, family in _MARKERS:
        if any(marker in path for path in paths):
            return FamilyInfo(family, "inferred", f"UNet/transformer module names contain '{marker}'")
    if T5XXL in components:
        family = "sd3" if CLIP_G in components else "flux"
        return FamilyInfo(family, "inferred", "a T5 text-encoder LoRA" + (" beside CLIP-G" if CLIP_G in components else ""))
    if CLIP_G in components:
        return FamilyInfo("sdxl", "inferred", "a second CLIP (CLIP-G) text-encoder LoRA")
    width = _cross_attention_width(shapes, parsed)
    if width in _CONTEXT_WIDTH:
        return FamilyInfo(_CONTEXT_WIDTH[width], "inferred", f"cross-attention to_k input width {width}")
    if components == {"clip_l"} and _text_encoder_width(shapes, parsed) == 768:
        return FamilyInfo("sd15", "inferred", "only a CLIP-L (width 768) text-encoder LoRA")
    return FamilyInfo("unknown", "unknown", "no family-specific keys or shapes")


def _cross_attention_width(shapes, parsed) -> int | None:
    for key, (module, role) in parsed.items():
        if role == "down" and module.component == UNET and module.path.endswith("attn2.to_k"):
            return int(shapes[key][1])
    return None


def _text_encoder_width(shapes, parsed) -> int | None:
    for key, (module, role) in parsed.items():
        if role == "down" and module.path.endswith("self_attn.q_proj"):
            return int(shapes[key][1])
    return None


def family_of(metadata: Mapping[str, str], shapes: Mapping[str, tuple[int, ...]]) -> FamilyInfo:
    """Declared family when the metadata names one, else inferred from keys and shapes."""
    return declared_family(metadata) or infer_family(shapes)


def compatibility_warning(lora: FamilyInfo, target_family: str, target: str = "model") -> str | None:
    """A user-facing warning when a LoRA's family differs from the model's (None when compatible or unknown)."""
    if lora.family == "unknown" or target_family == "unknown" or lora.family == target_family:
        return None
    return (f"this LoRA is for {lora.family} ({lora.source}: {lora.evidence}) but the {target} is {target_family}; "
            "most of its keys will not apply")
