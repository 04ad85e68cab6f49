"""A whole LoRA file: validated load into the canonical form, write in a layout with full metadata, convert."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import LayoutError, LoraFileError
from .family import FamilyInfo, family_of
from .layouts import LoraWeights, parse_lora, render
from .metadata import LoraDescription, build_metadata
from .safetensors_file import load_tensors, save_tensors


@dataclass
class LoadedLora:
    """A fully loaded LoRA: the raw tensors as stored, their canonical form and the file's family."""

    path: Path
    tensors: dict
    metadata: dict[str, str]
    weights: LoraWeights
    family: FamilyInfo


def load_lora(path: str | os.PathLike[str]) -> LoadedLora:
    """Validated load of a plain LoRA in any known layout."""
    tensors, metadata = load_tensors(path)
    try:
        weights = parse_lora(tensors)
    except LayoutError as exc:
        raise LoraFileError(path, str(exc)) from None
    shapes = {name: tuple(tensor.shape) for name, tensor in tensors.items()}
    return LoadedLora(Path(path), tensors, metadata, weights, family_of(metadata, shapes))


def save_lora(
    path: str | os.PathLike[str],
    weights: LoraWeights,
    description: LoraDescription,
    layout: str = "kohya",
    overwrite: bool = False,
    extra_metadata: Mapping[str, str] | None = None,
) -> Path:
    """Render ``weights`` in ``layout`` with full metadata and write atomically (never overwrites unless asked)."""
    tensors = render(weights, layout, description.family)
    metadata = build_metadata(description, tensors)
    metadata.update(extra_metadata or {})
    return save_tensors(path, tensors, metadata, overwrite=overwrite)


def convert_file(source: str | os.PathLike[str], target: str | os.PathLike[str], layout: str,
                 family: str | None = None, overwrite: bool = False) -> Path:
    """Convert a LoRA file to another layout, keeping its metadata and recording the conversion."""
    loaded = load_lora(source)
    family = family or loaded.family.family
    if loaded.weights.unparsed:
        raise LoraFileError(source, f"{len(loaded.weights.unparsed)} keys are not plain LoRA weights "
                            f"(e.g. '{loaded.weights.unparsed[0]}'); converting would drop them")
    try:
        tensors = render(loaded.weights, layout, family)
    except LayoutError as exc:
        raise LoraFileError(source, str(exc)) from None
    metadata = dict(loaded.metadata)
    metadata["lora_lab.converted_from"] = loaded.weights.layout
    metadata["lora_lab.layout"] = layout
    return save_tensors(target, tensors, metadata, overwrite=overwrite)
