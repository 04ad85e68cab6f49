"""The LoRA file core every capability uses: bounded reads, layouts, family, metadata, atomic writes.

Typical use::

    summary = inspect_file("style.safetensors")               # header only
    lora = load_lora("style.safetensors")                     # validated full load, canonical form
    save_lora("out.safetensors", lora.weights, description)   # kohya layout, full metadata, atomic
"""

from __future__ import annotations

from .errors import HeaderError, LayoutError, LoraFileError, OutputExistsError, TruncatedFileError, UnsafeFileError
from .family import FAMILIES, FamilyInfo, compatibility_warning, declared_family, family_of, infer_family
from .layouts import LAYOUTS, LoraModule, LoraWeights, ModuleKey, detect_layout, parse_lora, render
from .lora_file import LoadedLora, convert_file, load_lora, save_lora
from .metadata import LoraDescription, build_metadata, tensor_sha256, trigger_words
from .safetensors_file import MAX_HEADER_BYTES, SafetensorsHeader, load_tensors, read_header, save_tensors
from .summary import LoraSummary, inspect_file, inspect_header

__all__ = [
    "FAMILIES", "LAYOUTS", "MAX_HEADER_BYTES", "FamilyInfo", "HeaderError", "LayoutError", "LoadedLora",
    "LoraDescription", "LoraFileError", "LoraModule", "LoraSummary", "LoraWeights", "ModuleKey",
    "OutputExistsError", "SafetensorsHeader", "TruncatedFileError", "UnsafeFileError", "build_metadata",
    "compatibility_warning", "convert_file", "declared_family", "detect_layout", "family_of", "infer_family", "inspect_file",
    "inspect_header", "load_lora", "load_tensors", "parse_lora", "read_header", "render", "save_lora",
    "save_tensors", "tensor_sha256", "trigger_words",
]
