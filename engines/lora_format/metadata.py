"""The metadata we write into every LoRA, and what we read back out of other tools' files.

Written: the kohya minimum ``ss_*`` set (A1111/Forge and LoRA managers show these), SAI ``modelspec.*``
(architecture, title, trigger phrase, a sha256 over the tensor bytes), and our own ``lora_lab.*`` keys.
safetensors metadata must be ``str -> str``; :func:`build_metadata` makes sure of that.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from .family import ARCHITECTURE

PACK_VERSION = "0.1.0"
SAI_MODEL_SPEC_VERSION = "1.0.0"


@dataclass
class LoraDescription:
    """What a writer knows about the LoRA it saves; turned into metadata by :func:`build_metadata`."""

    title: str
    family: str
    rank: int
    alpha: float
    trigger_phrase: str = ""
    description: str = ""
    network_module: str = "networks.lora"
    created_by: str = "comfyui-lora-lab"
    extra_ss: Mapping[str, object] = field(default_factory=dict)
    lab: Mapping[str, object] = field(default_factory=dict)


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def tensor_sha256(tensors: Mapping[str, object]) -> str:
    """sha256 of the safetensors data section (tensor bytes only), the "addnet" hash A1111 shows.

    The data section does not depend on metadata, so the hash can go into the metadata of the same file.
    """
    from safetensors.torch import save

    blob = save({name: tensor.detach().contiguous() for name, tensor in tensors.items()})
    header_size = int.from_bytes(blob[:8], "little")
    return "0x" + hashlib.sha256(memoryview(blob)[8 + header_size:]).hexdigest()


def build_metadata(info: LoraDescription, tensors: Mapping[str, object] | None = None,
                   now: _dt.datetime | None = None) -> dict[str, str]:
    """kohya ``ss_*`` + ``modelspec.*`` + ``lora_lab.*`` metadata, every value a string."""
    architecture, base_version, implementation = ARCHITECTURE.get(info.family, ARCHITECTURE["unknown"])
    stamp = (now or _dt.datetime.now(_dt.timezone.utc)).replace(microsecond=0)
    metadata = {
        "ss_network_module": info.network_module,
        "ss_network_dim": str(info.rank),
        "ss_network_alpha": _as_text(float(info.alpha)),
        "ss_base_model_version": base_version,
        "ss_output_name": info.title,
        "ss_v2": "False",
        "ss_training_comment": info.description,
        "ss_training_finished_at": str(int(stamp.timestamp())),
        "modelspec.sai_model_spec": SAI_MODEL_SPEC_VERSION,
        "modelspec.architecture": architecture,
        "modelspec.implementation": implementation,
        "modelspec.title": info.title,
        "modelspec.date": stamp.isoformat(),
        "lora_lab.version": PACK_VERSION,
        "lora_lab.created_by": info.created_by,
    }
    if info.trigger_phrase:
        metadata["modelspec.trigger_phrase"] = info.trigger_phrase
    if info.description:
        metadata["modelspec.description"] = info.description
    metadata.update({key: _as_text(value) for key, value in info.extra_ss.items()})
    metadata.update({f"lora_lab.{key}": _as_text(value) for key, value in info.lab.items()})
    if tensors is not None:
        metadata["modelspec.hash_sha256"] = tensor_sha256(tensors)
    return metadata


def trigger_words(metadata: Mapping[str, str], top_tags: int = 3) -> tuple[list[str], list[str]]:
    """(declared trigger words, weaker candidates from the most frequent training tags)."""
    declared = [w.strip() for w in metadata.get("modelspec.trigger_phrase", "").split(",") if w.strip()]
    return declared, _top_tags(metadata.get("ss_tag_frequency", ""), top_tags)


def _top_tags(raw: str, limit: int) -> list[str]:
    if not raw:
        return []
    try:
        frequency = json.loads(raw)
    except json.JSONDecodeError:
        return []
    totals: dict[str, int] = {}
    if isinstance(frequency, dict):
        for tags in frequency.values():
            if isinstance(tags, dict):
                for tag, count in tags.items():
                    if isinstance(count, (int, float)):
                        totals[tag.strip()] = totals.get(tag.strip(), 0) + int(count)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [tag for tag, _ in ranked[:limit] if tag]
