"""Discovery over names alone: a remote ComfyUI's LoraLoader list, no files, no metadata.

``/object_info`` shows a combo input in two shapes: V1 ``[[name, ...], {...}]`` (LoraLoader) and V3
``["COMBO", {"options": [name, ...]}]``. :func:`loraloader_names` accepts both (and either a full
``/object_info`` or the ``/object_info/LoraLoader`` answer). With names only, entries are found by their
name words (camelCase, separators and version tags split) and their family is hinted by the name
("...XL", "flux_..."); a name with no hint has an unknown family.
"""

from __future__ import annotations

import os

from .entry import LibraryEntry, index_terms
from .families import family_from_name
from .scanner import PICKLE_SUFFIXES
from .search_index import SearchIndex
from .text import raw_name_tokens

LORA_NODES = ("LoraLoader", "LoraLoaderModelOnly")
LORA_INPUT = "lora_name"
MAX_NAMES = 200_000


def _combo_options(spec: object) -> list[str] | None:
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return [name for name in spec[0] if isinstance(name, str)]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        options = spec[1].get("options")
        return [name for name in options if isinstance(name, str)] if isinstance(options, list) else None
    return None


def loraloader_names(object_info: object) -> list[str]:
    """LoRA names from ``/object_info`` (whole, or one node's entry); raises ValueError when none is there."""
    if not isinstance(object_info, dict):
        raise ValueError("/object_info answer must be a JSON object")
    for node in LORA_NODES:
        info = object_info.get(node)
        if not isinstance(info, dict):
            continue
        inputs = info.get("input", {})
        for section in ("required", "optional"):
            spec = inputs.get(section, {}).get(LORA_INPUT) if isinstance(inputs.get(section), dict) else None
            names = _combo_options(spec)
            if names is not None:
                return names[:MAX_NAMES]
    raise ValueError(f"no {' or '.join(LORA_NODES)} with a '{LORA_INPUT}' list in the /object_info answer")


def names_only_entry(name: str) -> LibraryEntry:
    stem = os.path.splitext(os.path.basename(name))[0]
    hinted = family_from_name(raw_name_tokens(stem))
    entry = LibraryEntry(name=name, path=name, display_name=stem, family=hinted or "unknown",
                         family_source="name" if hinted else "unknown",
                         family_evidence="the file name" if hinted else "names only",
                         format="pickle" if name.lower().endswith(PICKLE_SUFFIXES) else "safetensors")
    index_terms(entry)
    return entry


def names_only_index(names: list[str]) -> SearchIndex:
    index = SearchIndex()
    index.add_many(names_only_entry(name) for name in names)
    return index
