"""Apply a stack of LoRAs: resolve each entry, load it through the cache, check its family, apply, report.

The engine does not know ComfyUI: the node passes an ``applier`` (``bridge.lora_apply.apply_lora`` in
ComfyUI) that takes (model, clip, tensors, model weight, clip weight) and returns (model, clip, key counts).

A LoRA that cannot be used (unknown brand, missing or corrupt file, another base model) is skipped: the
model and clip go on unchanged from that step, and the report carries a structured warning naming
brand, file and reason. In strict mode the same problem raises :class:`StackError` instead. A LoRA for
another base model is never applied, so the log gets one summary line, not hundreds of "lora key not loaded".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..lora_format import HeaderError, LoraFileError, TruncatedFileError, UnsafeFileError, compatibility_warning
from ..lora_inspect import Target
from .cache import LoraCache
from .entries import StackEntry
from .ids import BrandIdError
from .library import BrandLibrary, BrandNotFoundError

log = logging.getLogger("lora_lab.brands")

# exception type -> fallback reason code, most specific first (the stats route counts fallbacks by code)
FALLBACK_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (BrandIdError, "bad_brand_id"),
    (BrandNotFoundError, "not_found"),
    (TruncatedFileError, "truncated_file"),
    (HeaderError, "bad_header"),
    (UnsafeFileError, "unsafe_file"),
    (LoraFileError, "unreadable_file"),
    (FileNotFoundError, "not_found"),
    (OSError, "unreadable_file"),
)
FAMILY_MISMATCH = "family_mismatch"

Applier = Callable[[Any, Any, Mapping, float, float], tuple[Any, Any, dict]]


class StackError(ValueError):
    """Strict mode: a LoRA of the stack cannot be applied as asked."""


def reason_code(exc: BaseException) -> str:
    return next((code for kind, code in FALLBACK_REASONS if isinstance(exc, kind)), "error")


def _problem(exc: BaseException) -> str:
    """What went wrong, without the path (the warning names the file) but with the error's hint."""
    if isinstance(exc, LoraFileError):
        return f"{exc.problem}. {exc.hint}" if exc.hint else exc.problem
    return str(exc)


@dataclass
class StackItem:
    """One LoRA to apply: where it comes from, its file, its weights, or why it cannot be used."""

    label: str
    lora_name: str
    path: Path | None
    weight: float
    clip_weight: float
    brand_id: str | None = None
    role: str | None = None
    version: str | None = None
    notes: tuple[str, ...] = ()
    error: BaseException | None = None

    def as_lora_stack(self) -> tuple[str, float, float]:
        """The ``LORA_STACK`` currency: (LoRA name, model weight, clip weight)."""
        return (self.lora_name, self.weight, self.clip_weight)


def resolve_items(library: BrandLibrary, entries: Sequence[StackEntry]) -> list[StackItem]:
    items = []
    for entry in entries:
        ref = entry.ref
        try:
            resolved = library.resolve(ref, entry.role_fallback)
        except (BrandIdError, OSError) as exc:
            items.append(StackItem(entry.label, entry.label, None, entry.weight, entry.clip_strength, ref.brand_id,
                                   ref.role, ref.version, error=exc))
            continue
        found = resolved.file
        items.append(StackItem(entry.label, found.lora_name, found.path, entry.weight, entry.clip_strength,
                               ref.brand_id, found.role, found.version, resolved.notes))
    return items


@dataclass
class Fallback:
    """The structured warning for a LoRA that was not applied."""

    brand: str | None
    file: str
    reason: str
    message: str


@dataclass
class EntryReport:
    label: str
    lora_name: str
    brand_id: str | None
    role: str | None
    version: str | None
    weight: float
    clip_weight: float
    status: str = "applied"  # applied | fallback | skipped
    cache: str | None = None  # hit | miss
    load_ms: float | None = None
    family: str | None = None
    keys: dict | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class ArmReport:
    arm: str | None
    entries: list[EntryReport] = field(default_factory=list)
    fallbacks: list[Fallback] = field(default_factory=list)
    results: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        lines = [f"arm {self.arm}:"] if self.arm else []
        for e in self.entries:
            line = f"{e.label} ({e.version or 'unversioned'}) w{e.weight:g}/{e.clip_weight:g}: {e.status}"
            if e.keys is not None:
                line += f", {e.keys['matched_keys']} keys matched, {e.keys['unmatched_keys']} unmatched"
            if e.cache:
                line += f", cache {e.cache} ({e.load_ms:.1f} ms)"
            lines.append(line)
            lines += [f"  note: {note}" for note in e.notes]
        lines += [f"WARNING: {f.brand or '-'} / {f.file}: {f.message}" for f in self.fallbacks]
        if self.results is not None:
            lines.append(f"results: {self.results['drafts']} drafts, {self.results['picked']} picked, "
                         f"{self.results['rejected']} rejected")
        return "\n".join(lines)


def _entry_report(item: StackItem) -> EntryReport:
    return EntryReport(item.label, item.lora_name, item.brand_id, item.role, item.version, item.weight,
                       item.clip_weight, notes=list(item.notes))


def _fail(report: ArmReport, entry: EntryReport, item: StackItem, reason: str, message: str, strict: bool) -> None:
    where = f"brand '{item.brand_id}'" if item.brand_id else "LORA_STACK entry"
    if strict:
        raise StackError(f"{where}, file '{item.lora_name}': {message} (strict mode)")
    entry.status = "fallback"
    report.fallbacks.append(Fallback(item.brand_id, item.lora_name, reason, message))
    log.warning("LoRA Lab brand stack: %s, file '%s' not applied (%s): %s", where, item.lora_name, reason, message)


def _family_problem(family, target: Target) -> str | None:
    if target.model_family != "unknown":
        return compatibility_warning(family, target.model_family, "model")
    return compatibility_warning(family, target.clip_family, "text encoder")


def apply_items(model: Any, clip: Any, items: Sequence[StackItem], cache: LoraCache, applier: Applier,
                target: Target, strict: bool, arm: str | None = None) -> tuple[Any, Any, ArmReport]:
    """Apply ``items`` in order; returns the patched (or, for failed items, unchanged) model and clip."""
    report = ArmReport(arm)
    for item in items:
        entry = _entry_report(item)
        report.entries.append(entry)
        if item.error is not None:
            _fail(report, entry, item, reason_code(item.error), str(item.error), strict)
            continue
        if item.weight == 0 and item.clip_weight == 0:
            entry.status = "skipped"
            continue
        try:
            lookup = cache.get(item.path)
        except (LoraFileError, OSError) as exc:
            _fail(report, entry, item, reason_code(exc), _problem(exc), strict)
            continue
        entry.cache, entry.load_ms = ("hit" if lookup.hit else "miss"), round(lookup.seconds * 1000, 3)
        entry.family = lookup.lora.family.family
        problem = _family_problem(lookup.lora.family, target)
        if problem:
            _fail(report, entry, item, FAMILY_MISMATCH, problem, strict)
            continue
        model, clip, entry.keys = applier(model, clip, lookup.lora.tensors, item.weight, item.clip_weight)
        log.info("LoRA Lab brand stack: %s (%s) w%g: %s keys matched, %s unmatched, cache %s", item.label,
                 item.lora_name, item.weight, entry.keys.get("matched_keys"), entry.keys.get("unmatched_keys"),
                 entry.cache)
    return model, clip, report
