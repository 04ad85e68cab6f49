"""The sidecar files people already keep next to their LoRAs, read into one shape.

Formats (a registry, one parser each), for a model file ``dir/x.safetensors``:

- ``dir/x.civitai.info``: Civitai Helper's copy of the Civitai model-version record (``trainedWords``,
  ``baseModel``, ``model.name``, ``images[].meta.prompt``);
- ``dir/x.metadata.json``: Lora-Manager's record (``model_name``, ``base_model``, ``tags``, ``usage_tips``,
  ``exclude``, and the Civitai record under ``civitai``);
- ``dir/x.safetensors.rgthree-info.json``: rgthree's info file (``trainedWords`` of ``{word, count?}``,
  ``strengthMin``/``strengthMax``, ``userTags``);
- ``dir/x.json``: A1111's user metadata (``activation text``, ``preferred weight``, ``sd version``).

A sidecar that is too large, not UTF-8 or not JSON gives a warning and is skipped; it never fails a scan.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_SIDECAR_BYTES = 8 * 1024 * 1024
MAX_EXAMPLES = 5
MAX_EXAMPLE_CHARS = 1000
MAX_DESCRIPTION_CHARS = 2000
_TAG = re.compile(r"<[^>]*>")


@dataclass
class StrengthHint:
    """A file's preferred strength range (from usage tips, rgthree or A1111's preferred weight)."""

    low: float
    high: float


@dataclass
class SidecarInfo:
    """What the sidecars of one file say, merged in registry order (first non-empty value wins)."""

    names: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    weak_triggers: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    base_models: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    strength: StrengthHint | None = None
    excluded: bool = False
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SidecarFormat:
    name: str
    file_name: Callable[[str, str], str]  # (model file name, its stem) -> sidecar file name
    parse: Callable[[dict, SidecarInfo], bool | None]  # False: not this format after all


def _stem(file_name: str) -> str:
    return os.path.splitext(file_name)[0]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str) and item.strip()]
    return []


def _split_triggers(values: list[str]) -> list[str]:
    """Civitai trained words are often comma-joined lists; each part is one trigger phrase."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _plain(text: object) -> str:
    if not isinstance(text, str):
        return ""
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())[:MAX_DESCRIPTION_CHARS]


def _number(value: object) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and -5.0 <= number <= 5.0 else None


def _strength(low: object, high: object, info: SidecarInfo, source: str) -> None:
    low, high = _number(low), _number(high)
    if info.strength is not None or low is None or high is None:
        return
    if low > high:
        info.warnings.append(f"{source}: strength range {low}..{high} is reversed; ignored")
        return
    info.strength = StrengthHint(low, high)


def _image_prompts(images: object) -> list[str]:
    prompts = []
    for image in images if isinstance(images, list) else []:
        meta = image.get("meta") if isinstance(image, dict) else None
        prompt = (meta or {}).get("prompt") if isinstance(meta, dict) else None
        if isinstance(prompt, str) and prompt.strip():
            prompts.append(prompt[:MAX_EXAMPLE_CHARS])
        if len(prompts) >= MAX_EXAMPLES:
            break
    return prompts


def _civitai_record(record: dict, info: SidecarInfo) -> None:
    """Fields of a Civitai model-version record (the .civitai.info file, LM's ``civitai`` object)."""
    model = record.get("model") if isinstance(record.get("model"), dict) else {}
    info.names += _strings(model.get("name"))
    info.triggers += _split_triggers(_strings(record.get("trainedWords")) + _strings(record.get("triggerWords")))
    info.tags += _strings(model.get("tags")) + _strings(record.get("tags"))
    info.base_models += _strings(record.get("baseModel"))
    info.descriptions += [d for d in (_plain(model.get("description")), _plain(record.get("description"))) if d]
    info.examples += _image_prompts(record.get("images")) + _image_prompts(record.get("customImages"))


def _lora_manager(record: dict, info: SidecarInfo) -> None:
    info.names += _strings(record.get("model_name"))
    info.base_models += _strings(record.get("base_model"))
    info.tags += _strings(record.get("tags"))
    info.descriptions += [d for d in (_plain(record.get("modelDescription")), _plain(record.get("notes"))) if d]
    info.excluded = info.excluded or record.get("exclude") is True
    tips = record.get("usage_tips")
    if isinstance(tips, str) and tips.strip():
        try:
            tips = json.loads(tips)
        except json.JSONDecodeError:
            info.warnings.append("metadata.json: usage_tips is not valid JSON; ignored")
            tips = None
    if isinstance(tips, dict):
        single = _number(tips.get("strength"))
        _strength(tips.get("strength_min", single), tips.get("strength_max", single), info, "metadata.json")
    if isinstance(record.get("civitai"), dict):
        _civitai_record(record["civitai"], info)


def _rgthree(record: dict, info: SidecarInfo) -> None:
    info.names += _strings(record.get("name"))
    info.base_models += _strings(record.get("baseModel"))
    info.tags += _strings(record.get("userTags"))
    info.descriptions += [d for d in (_plain(record.get("description")), _plain(record.get("userNote"))) if d]
    info.triggers += _split_triggers(_strings(record.get("triggerWords")))
    for word in record.get("trainedWords") or []:
        if isinstance(word, dict) and isinstance(word.get("word"), str) and word["word"].strip():
            from_tags = "count" in word and not (word.get("civitai") or word.get("user"))
            (info.weak_triggers if from_tags else info.triggers).append(word["word"].strip())
    info.examples += [image["positive"][:MAX_EXAMPLE_CHARS] for image in record.get("images") or []
                      if isinstance(image, dict) and isinstance(image.get("positive"), str)][:MAX_EXAMPLES]
    _strength(record.get("strengthMin"), record.get("strengthMax"), info, "rgthree-info.json")


A1111_KEYS = ("activation text", "preferred weight", "sd version", "description", "negative text", "notes")


def _a1111(record: dict, info: SidecarInfo) -> bool:
    if not any(key in record for key in A1111_KEYS):
        return False  # some other tool's JSON that happens to share the name
    info.triggers += _split_triggers(_strings(record.get("activation text")))
    info.base_models += _strings(record.get("sd version"))
    info.descriptions += [d for d in (_plain(record.get("description")), _plain(record.get("notes"))) if d]
    weight = _number(record.get("preferred weight"))
    if weight:  # 0 means "not set" in A1111's editor
        _strength(weight - 0.1, weight + 0.1, info, "A1111 json")
    return True


SIDECAR_FORMATS = (
    SidecarFormat("lora_manager", lambda name, stem: stem + ".metadata.json", _lora_manager),
    SidecarFormat("civitai", lambda name, stem: stem + ".civitai.info", _civitai_record),
    SidecarFormat("rgthree", lambda name, stem: name + ".rgthree-info.json", _rgthree),
    SidecarFormat("a1111", lambda name, stem: stem + ".json", _a1111),
)


def sidecar_names(file_name: str) -> list[str]:
    stem = _stem(file_name)
    return [fmt.file_name(file_name, stem) for fmt in SIDECAR_FORMATS]


def _load(path: str, label: str, info: SidecarInfo) -> dict | None:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SIDECAR_BYTES + 1)
    except OSError as exc:
        info.warnings.append(f"{label}: cannot read ({exc.strerror or exc})")
        return None
    if len(raw) > MAX_SIDECAR_BYTES:
        info.warnings.append(f"{label}: larger than {MAX_SIDECAR_BYTES:,} bytes; ignored")
        return None
    try:
        record = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        info.warnings.append(f"{label}: not valid UTF-8 JSON ({exc}); ignored")
        return None
    if not isinstance(record, dict):
        info.warnings.append(f"{label}: expected a JSON object, found {type(record).__name__}; ignored")
        return None
    return record


def read_sidecars(directory: str, file_name: str, present: set[str]) -> SidecarInfo:
    """Parse every known sidecar of ``file_name`` that is in ``present`` (the directory's file names)."""
    info = SidecarInfo()
    for fmt, name in zip(SIDECAR_FORMATS, sidecar_names(file_name)):
        if name not in present:
            continue
        record = _load(os.path.join(directory, name), name, info)
        if record is None:
            continue
        try:
            recognised = fmt.parse(record, info) is not False
        except (AttributeError, TypeError, ValueError) as exc:  # a field of an unexpected type deep inside
            info.warnings.append(f"{name}: unexpected structure ({exc}); partly ignored")
            recognised = True
        if recognised:
            info.sources.append(fmt.name)
    return info
