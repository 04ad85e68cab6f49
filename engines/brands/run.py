"""One BrandLoRAStack request, from widget values to applied arms: what the node calls, in three steps.

- :meth:`StackRequest.check` at queue time (``validate_inputs``): the stack and the arms parse, ids are
  valid; in strict mode every file also resolves and has a readable header.
- :meth:`StackRequest.fingerprint` for ComfyUI's output cache: the files' names, sizes and times, so a
  replaced LoRA or a new version re-runs the node even though no widget changed.
- :func:`run_stack`: each arm (one when A/B is off) applies the incoming ``LORA_STACK`` and the brand
  entries to its own clone of MODEL/CLIP; the outputs are lists, one element per arm.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..lora_format import read_header
from ..lora_inspect import Target
from ..store import Database
from .ab import apply_arm, arm_results, assign_arm, experiment_id, parse_arms
from .entries import StackConfigError, StackEntry, check_weight, node_entries
from .ids import BrandRef
from .library import BrandNotFoundError
from .service import BrandService
from .stack import Applier, ArmReport, StackError, StackItem, apply_items, resolve_items

AB_MODES = ("off", "all arms", "assign by key")
MAX_INCOMING = 64


@dataclass(frozen=True)
class StackRequest:
    """The node's widget values, validated. ``brand`` None: only ``lora_configs`` (and the incoming stack)."""

    brand: str | None = None
    weight: float = 0.8
    lora_configs: str = ""
    strict: bool = False
    ab_mode: str = "off"
    ab_arms: str = ""
    ab_key: object = 0

    def __post_init__(self) -> None:
        if self.ab_mode not in AB_MODES:
            raise StackConfigError(f"ab_mode must be one of {list(AB_MODES)}, got {self.ab_mode!r}")
        check_weight(self.weight, "weight")

    def entries(self) -> list[StackEntry]:
        return node_entries(self.brand, self.weight, self.lora_configs)

    def arms(self, service: BrandService) -> list[tuple[str | None, list[StackEntry]]]:
        """(arm name, entries with the arm's weights) per arm to render; [(None, entries)] when A/B is off."""
        entries = self.entries()
        spec = self._arm_spec(service) if self.ab_mode != "off" else None
        if spec is None:
            return [(None, entries)]
        primary = BrandRef(self.brand).label if self.brand else None
        arms = parse_arms(spec[0], primary, spec[1])
        if not arms:
            raise StackConfigError(f"ab_mode '{self.ab_mode}' needs arms: fill ab_arms (e.g. '0.4, 0.6, 0.8') or "
                                   "give the brand an 'ab_arms' entry in its metadata.json")
        if self.ab_mode == "assign by key":
            arms = [assign_arm(arms, self.ab_key, experiment_id(arms))]
        return [(arm.name, apply_arm(entries, arm)) for arm in arms]

    def _arm_spec(self, service: BrandService) -> tuple[object, str] | None:
        """(arms text or sidecar value, where it came from); None when a missing brand (not strict) means
        the stack falls back to one plain output."""
        if str(self.ab_arms).strip():
            return self.ab_arms, "ab_arms"
        try:
            brand = service.library.get(self.brand) if self.brand else None
        except BrandNotFoundError:
            if self.strict:
                raise
            return None
        return (service.library.sidecar(brand).ab_arms if brand else None), "metadata.json ab_arms"

    def check(self, service: BrandService) -> None:
        """Queue-time validation; raises ValueError (StackConfigError, BrandIdError, StackError) or OSError.
        Not strict: only the text must make sense; strict: every file must resolve and have a valid header."""
        arms = self.arms(service)
        if not self.strict:
            return
        for _, entries in arms:
            for item in resolve_items(service.library, entries):
                if item.error is not None:
                    raise StackError(f"{item.error} (strict mode)")
                read_header(item.path)

    def fingerprint(self, service: BrandService) -> str:
        """Names, sizes and mtimes of the files the stack resolves to (and the primary brand's sidecar)."""
        stamp: list = []
        for _, entries in self.arms(service):
            for item in resolve_items(service.library, entries):
                stamp.append(_stat_stamp(item.path) if item.path else str(item.error))
        if self.brand:
            try:
                stamp.append(_stat_stamp(service.library.get(self.brand).path / "metadata.json"))
            except (ValueError, OSError) as exc:
                stamp.append(str(exc))
        return json.dumps(stamp)


def _stat_stamp(path: Path) -> list:
    try:
        stat = os.stat(path)
        return [str(path), stat.st_size, stat.st_mtime_ns]
    except OSError:
        return [str(path), None]


def incoming_items(stack: object, resolve: Callable[[str], Path]) -> list[StackItem]:
    """``LORA_STACK`` entries (name, model weight, clip weight) from another node, resolved to files.

    ``"None"`` rows (how Efficiency/Comfyroll stackers mark empty slots) are skipped; a name that does
    not resolve becomes an item with an error, i.e. a fallback warning or a strict-mode error.
    """
    if stack is None:
        return []
    if not isinstance(stack, (list, tuple)) or len(stack) > MAX_INCOMING:
        raise StackConfigError(f"LORA_STACK must be a list of at most {MAX_INCOMING} (name, model weight, "
                               f"clip weight) entries, got {type(stack).__name__}")
    items = []
    for index, row in enumerate(stack):
        if not (isinstance(row, (list, tuple)) and len(row) == 3 and isinstance(row[0], str)
                and all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in row[1:])):
            raise StackConfigError(f"LORA_STACK[{index}] must be (name, model weight, clip weight), got {row!r:.100}")
        name, weight, clip_weight = row
        if name == "None":
            continue
        try:
            items.append(StackItem(name, name, resolve(name), float(weight), float(clip_weight)))
        except (OSError, ValueError) as exc:
            items.append(StackItem(name, name, None, float(weight), float(clip_weight), error=exc))
    return items


@dataclass
class StackOutput:
    models: list = field(default_factory=list)
    clips: list = field(default_factory=list)
    stacks: list[list[tuple[str, float, float]]] = field(default_factory=list)
    reports: list[ArmReport] = field(default_factory=list)

    def report_json(self, index: int, target: Target, cache: dict) -> str:
        return json.dumps({"target": target.__dict__, "arm_count": len(self.reports),
                           **self.reports[index].to_dict(), "cache": cache}, indent=2)

    def text(self) -> str:
        return "\n".join(report.text() for report in self.reports)


def run_stack(service: BrandService, request: StackRequest, model: Any, clip: Any, incoming: Sequence[StackItem],
              applier: Applier, target: Target, database: Database | None = None) -> StackOutput:
    """Apply every arm to its own clone of (model, clip); per-arm results from ``database`` when A/B is on."""
    out = StackOutput()
    for arm, entries in request.arms(service):
        items = [*incoming, *resolve_items(service.library, entries)]
        new_model, new_clip, report = apply_items(model, clip, items, service.cache, applier, target,
                                                  request.strict, arm)
        service.record_fallbacks(report.fallbacks)
        applied = [item for item, entry in zip(items, report.entries) if entry.status == "applied"]
        if arm is not None and database is not None:
            report.results = arm_results(database, [(arm, [(i.lora_name, i.weight) for i in applied])])[0]
        out.models.append(new_model)
        out.clips.append(new_clip)
        out.stacks.append([item.as_lora_stack() for item in applied])
        out.reports.append(report)
    return out
