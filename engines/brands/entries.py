"""Stack entries as validated values: the node's brand + weight and its ``lora_configs`` text.

``lora_configs`` takes the seed's JSON list::

    [{"brand_id": "acme", "weight": 0.7, "type": "style"},
     {"brand_id": "iphone_16_product", "weight": 0.8, "type": "product", "version": "v2", "clip_weight": 0.5}]

or the same as lines, one LoRA per line (``#`` starts a comment)::

    acme: 0.7
    acme/product@v2: 0.8, 0.5

Everything wrong is reported with where it is (``lora_configs[1].weight``) and what is allowed, at queue
time, because a malformed stack is a mistake in the graph, not a missing file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from .ids import PRIMARY_ROLE, BrandIdError, BrandRef

WEIGHT_RANGE = (0.0, 1.0)
DEFAULT_WEIGHT = 0.8
MAX_ENTRIES = 32
MAX_CONFIG_CHARS = 64 * 1024
CONFIG_KEYS = frozenset({"brand_id", "weight", "type", "version", "clip_weight"})


class StackConfigError(ValueError):
    """``lora_configs`` (or an arm) that cannot be used; the message says where and why."""


def check_weight(value: object, where: str) -> float:
    low, high = WEIGHT_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StackConfigError(f"{where} must be a number from {low} to {high}, got {value!r}")
    if not low <= value <= high:
        raise StackConfigError(f"{where} is {value}, outside the allowed range {low} to {high}")
    return float(value)


@dataclass(frozen=True)
class StackEntry:
    ref: BrandRef
    weight: float = DEFAULT_WEIGHT
    clip_weight: float | None = None  # None: same as weight
    role_fallback: bool = False  # the seed's ``type``: use the primary file if the brand has no such role

    def __post_init__(self) -> None:
        check_weight(self.weight, f"weight of '{self.ref.label}'")
        if self.clip_weight is not None:
            check_weight(self.clip_weight, f"clip_weight of '{self.ref.label}'")

    @property
    def label(self) -> str:
        return self.ref.label

    @property
    def clip_strength(self) -> float:
        return self.weight if self.clip_weight is None else self.clip_weight


def _json_entry(item: object, where: str) -> StackEntry:
    if not isinstance(item, dict):
        raise StackConfigError(f"{where} must be an object like {{\"brand_id\": \"acme\", \"weight\": 0.8}}, "
                               f"got {type(item).__name__}")
    unknown = sorted(set(item) - CONFIG_KEYS)
    if unknown:
        raise StackConfigError(f"{where} has unknown key(s) {unknown}; allowed: {sorted(CONFIG_KEYS)}")
    if "brand_id" not in item:
        raise StackConfigError(f"{where} has no 'brand_id'")
    try:
        ref = BrandRef(item["brand_id"], item.get("type") or PRIMARY_ROLE, item.get("version"))
    except BrandIdError as exc:
        raise StackConfigError(f"{where}: {exc}") from None
    weight = check_weight(item.get("weight", DEFAULT_WEIGHT), f"{where}.weight")
    clip = item.get("clip_weight")
    clip = None if clip is None else check_weight(clip, f"{where}.clip_weight")
    return StackEntry(ref, weight, clip, role_fallback="type" in item)


def _line_entry(line: str, where: str) -> StackEntry:
    reference, _, numbers = line.partition(":")
    try:
        ref = BrandRef.parse(reference)
    except BrandIdError as exc:
        raise StackConfigError(f"{where}: {exc}") from None
    parts = [part.strip() for part in numbers.split(",")] if numbers.strip() else []
    if len(parts) > 2:
        raise StackConfigError(f"{where}: expected 'brand[/role][@version]: weight[, clip_weight]', got {line!r}")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise StackConfigError(f"{where}: weights must be numbers, got {numbers.strip()!r}") from None
    weight = check_weight(values[0], f"{where} weight") if values else DEFAULT_WEIGHT
    clip = check_weight(values[1], f"{where} clip weight") if len(values) > 1 else None
    return StackEntry(ref, weight, clip)


def parse_lora_configs(text: object) -> list[StackEntry]:
    """Entries from the ``lora_configs`` widget: a JSON list, or lines (see the module docstring)."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise StackConfigError(f"lora_configs must be text, got {type(text).__name__}")
    if len(text) > MAX_CONFIG_CHARS:
        raise StackConfigError(f"lora_configs is {len(text):,} characters; the limit is {MAX_CONFIG_CHARS:,}")
    stripped = text.strip()
    if stripped.startswith("[") or stripped.startswith("{"):
        entries = _parse_json(stripped)
    else:
        lines = [(n, line.split("#", 1)[0].strip()) for n, line in enumerate(stripped.splitlines(), 1)]
        entries = [_line_entry(line, f"lora_configs line {n}") for n, line in lines if line]
    if len(entries) > MAX_ENTRIES:
        raise StackConfigError(f"lora_configs holds {len(entries)} LoRAs; the limit is {MAX_ENTRIES}")
    return entries


def _parse_json(text: str) -> list[StackEntry]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StackConfigError(f"lora_configs is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
                               ) from None
    if not isinstance(document, list):
        raise StackConfigError(f"lora_configs must be a JSON list of objects, got a JSON {type(document).__name__}")
    return [_json_entry(item, f"lora_configs[{index}]") for index, item in enumerate(document)]


def node_entries(brand: str | None, weight: float, lora_configs: object) -> list[StackEntry]:
    """The node's primary brand (none when ``brand`` is empty) followed by the ``lora_configs`` entries."""
    entries = [] if not brand else [StackEntry(BrandRef(brand), check_weight(weight, "weight"))]
    return entries + parse_lora_configs(lora_configs)
