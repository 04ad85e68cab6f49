"""Base-model names as the ecosystem writes them ("SD 1.5", "SDXL 1.0", "Pony", "Flux.1 D") -> our families.

Civitai, Lora-Manager, rgthree and A1111 each write a base-model label; we map them with one table
(normalised prefix -> family). Families the foundation does not model (SD 2.x, video models, ...) keep
their own name, so they are never mistaken for a compatible one.
"""

from __future__ import annotations

import re

from .vocabulary import FAMILY_NAME_HINTS

# (prefix of the label lower-cased with spaces, dots, dashes and underscores removed, family). First match wins.
BASE_MODEL_PREFIXES = (
    ("sdxl", "sdxl"), ("pony", "sdxl"), ("illustrious", "sdxl"), ("noobai", "sdxl"), ("playground", "sdxl"),
    ("sd1", "sd15"), ("sdv1", "sd15"), ("stablediffusionv1", "sd15"), ("stablediffusion1", "sd15"),
    ("sd2", "sd2"), ("sdv2", "sd2"), ("sd3", "sd3"), ("stablediffusion3", "sd3"), ("stablediffusionxl", "sdxl"),
    ("flux", "flux"), ("chroma", "chroma"), ("hidream", "hidream"), ("hunyuan", "hunyuan"), ("wan", "wan"),
    ("kolors", "kolors"), ("auraflow", "auraflow"), ("pixart", "pixart"), ("lumina", "lumina"), ("qwen", "qwen"),
    ("ltxv", "ltxv"), ("mochi", "mochi"), ("cogvideo", "cogvideo"), ("svd", "svd"), ("zimage", "zimage"),
)
UNKNOWN_LABELS = frozenset({"", "unknown", "other", "none", "null"})


def family_of_label(label: object) -> str | None:
    """The family a base-model label names, or None when the label says nothing."""
    if not isinstance(label, str):
        return None
    key = re.sub(r"[\s._\-]+", "", label.lower())
    if key in UNKNOWN_LABELS:
        return None
    for prefix, family in BASE_MODEL_PREFIXES:
        if key.startswith(prefix):
            return family
    return None


def family_from_name(raw_tokens: list[str]) -> str | None:
    """A family hinted by a file name's tokens ("pixel-art-xl" -> sdxl); None when the name is silent."""
    hits = {FAMILY_NAME_HINTS[token] for token in raw_tokens if token in FAMILY_NAME_HINTS}
    return hits.pop() if len(hits) == 1 else None


def compatible(entry_family: str, target_family: str, allow_unknown: bool) -> bool:
    """May a LoRA of ``entry_family`` be used on a ``target_family`` model? Unknown targets accept everything."""
    if target_family in ("", "unknown"):
        return True
    if entry_family == "unknown":
        return allow_unknown
    return entry_family == target_family
