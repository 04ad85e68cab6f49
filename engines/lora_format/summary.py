"""What a user wants to know about a LoRA file, read from its header alone.

``inspect_header`` gives layout, family, rank, alpha, modules per component and trigger words without
loading tensors (alphas are scalars read by offset), so it is cheap enough for a library scan.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field

from .errors import LayoutError
from .family import family_of
from .layouts import adapter_kind, parse_keys
from .metadata import trigger_words
from .safetensors_file import SafetensorsHeader, read_header, read_scalars


@dataclass
class LoraSummary:
    path: str
    size_bytes: int
    layout: str
    adapter: str
    family: str
    family_source: str
    family_evidence: str
    rank: int | None
    ranks: list[int]
    alpha: float | None
    modules: dict[str, int]
    tensor_keys: int
    unparsed_keys: int
    trigger_words: list[str]
    tag_hints: list[str]
    title: str
    metadata: dict[str, str] = field(repr=False)

    def to_dict(self, with_metadata: bool = False) -> dict:
        data = asdict(self)
        if not with_metadata:
            data.pop("metadata")
        return data


def inspect_header(header: SafetensorsHeader) -> LoraSummary:
    """Summarise a validated header. Files that are not plain LoRAs get layout 'unknown', not an error."""
    keys = list(header.tensors)
    shapes = header.shapes
    family = family_of(header.metadata, shapes)
    try:
        layout, parsed, unparsed = parse_keys(keys)
    except LayoutError:
        layout, parsed, unparsed = "unknown", {}, keys
    ranks = Counter(shapes[key][0] for key, (_, role) in parsed.items() if role == "down" and shapes[key])
    alphas = list(read_scalars(header, [key for key, (_, role) in parsed.items() if role == "alpha"]).values())
    declared, hints = trigger_words(header.metadata)
    metadata = dict(header.metadata)
    return LoraSummary(
        path=str(header.path),
        size_bytes=header.file_size,
        layout=layout,
        adapter=adapter_kind(keys),
        family=family.family,
        family_source=family.source,
        family_evidence=family.evidence,
        rank=ranks.most_common(1)[0][0] if ranks else None,
        ranks=sorted(ranks),
        alpha=Counter(alphas).most_common(1)[0][0] if alphas else _declared_alpha(metadata),
        modules=dict(Counter(module.component for module, role in parsed.values() if role == "down")),
        tensor_keys=len(keys),
        unparsed_keys=len(unparsed),
        trigger_words=declared,
        tag_hints=hints,
        title=metadata.get("modelspec.title") or metadata.get("ss_output_name") or os.path.splitext(header.path.name)[0],
        metadata=metadata,
    )


def _declared_alpha(metadata: dict[str, str]) -> float | None:
    try:
        return float(metadata["ss_network_alpha"])
    except (KeyError, ValueError):
        return None


def inspect_file(path: str | os.PathLike[str]) -> LoraSummary:
    """Header-only summary of a LoRA file (bounded read; see ``read_header``)."""
    return inspect_header(read_header(path))
