"""A brand's ``metadata.json``: what people know about the brand that the LoRA files do not say.

Example::

    {"description": "Acme house style", "base_model": "sd15", "trigger_words": ["acme style"],
     "training": {"steps": 2000, "learning_rate": 0.0001, "dataset_size": 40},
     "default_version": "v1",
     "versions": {"v1": {"notes": "first release"}, "v2": {"notes": "more product shots"}},
     "ab_arms": {"subtle": 0.5, "bold": 0.9}}

The sidecar is optional and never needed to apply a LoRA, so a broken one is reported (``error``), not
raised: the brand still works, with its newest version and no notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ids import BrandIdError, validate_version

MAX_SIDECAR_BYTES = 1024 * 1024

# field -> (accepted JSON types, what to say when it is wrong); fields not listed are kept as they are
FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "description": ((str,), "text"),
    "base_model": ((str,), "text such as 'sd15' or 'sdxl'"),
    "trigger_words": ((list,), "a list of strings"),
    "training": ((dict,), "an object (steps, learning_rate, dataset_size, ...)"),
    "versions": ((dict,), "an object of version label -> {notes, ...}"),
    "default_version": ((str,), "a version label such as 'v1'"),
    "ab_arms": ((dict, list), "an object of arm name -> weight, or a list of weights"),
}


@dataclass(frozen=True)
class BrandSidecar:
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def default_version(self) -> str | None:
        return self.data.get("default_version")

    @property
    def ab_arms(self) -> Any:
        return self.data.get("ab_arms")


def _check_fields(data: dict) -> str | None:
    for name, (types, expected) in FIELDS.items():
        if name in data and not isinstance(data[name], types):
            return f"'{name}' must be {expected}, got {type(data[name]).__name__}"
    if not all(isinstance(word, str) for word in data.get("trigger_words", [])):
        return "'trigger_words' must be a list of strings"
    try:
        if "default_version" in data:
            validate_version(data["default_version"])
        for label in data.get("versions", {}):
            validate_version(label)
    except BrandIdError as exc:
        return str(exc)
    return None


def read_sidecar(path: Path) -> BrandSidecar:
    """Read and check ``metadata.json`` (bounded); a missing file is an empty sidecar, a bad one has ``error``."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return BrandSidecar()
    except OSError as exc:
        return BrandSidecar(error=f"{path}: cannot be read ({exc.strerror or exc})")
    if len(raw) > MAX_SIDECAR_BYTES:
        return BrandSidecar(error=f"{path}: larger than {MAX_SIDECAR_BYTES:,} bytes; not read")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return BrandSidecar(error=f"{path}: not valid UTF-8 JSON ({exc})")
    if not isinstance(data, dict):
        return BrandSidecar(error=f"{path}: must hold a JSON object, found {type(data).__name__}")
    problem = _check_fields(data)
    if problem:
        return BrandSidecar(error=f"{path}: {problem}")
    return BrandSidecar(data)
