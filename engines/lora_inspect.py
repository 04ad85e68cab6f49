"""The report behind the LoRA Inspect node and ``lora-lab inspect``: what a file is and how it applied.

Pure: takes the header summary, the target model's family and the key counts the bridge measured, and
returns a report with warnings a user can act on (wrong family, unmatched keys, unreadable file).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .lora_format import FamilyInfo, LoraFileError, LoraSummary, compatibility_warning, inspect_file, load_tensors

# tensors -> (model, clip, key counts): how the caller applies a LoRA (ComfyUI's loader, through the bridge)
Applier = Callable[[dict], tuple[object, object, dict]]


@dataclass(frozen=True)
class Target:
    """The families of the MODEL and CLIP a LoRA is applied to ("unknown" when not given)."""

    model_family: str = "unknown"
    clip_family: str = "unknown"


@dataclass
class InspectReport:
    file: str
    ok: bool
    summary: dict = field(default_factory=dict)
    target: dict = field(default_factory=dict)
    keys: dict | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=False)

    def text(self) -> str:
        """A short human-readable report for the node's text preview."""
        if not self.ok:
            return f"LoRA {self.file}: NOT APPLIED\n{self.error}"
        s = self.summary
        lines = [
            f"LoRA {self.file}",
            f"format {s['layout']} ({s['adapter']}), family {s['family']} ({s['family_source']})",
            f"rank {s['rank']}, alpha {s['alpha']}, modules {s['modules']}",
        ]
        if s["trigger_words"]:
            lines.append("trigger words: " + ", ".join(s["trigger_words"]))
        elif s["tag_hints"]:
            lines.append("frequent training tags: " + ", ".join(s["tag_hints"]))
        if self.keys is not None:
            lines.append(f"keys: {self.keys['matched_keys']} matched, {self.keys['unmatched_keys']} unmatched")
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def build_report(name: str, summary: LoraSummary, target: Target, keys: dict | None = None) -> InspectReport:
    family = FamilyInfo(summary.family, summary.family_source, summary.family_evidence)
    warnings = [w for w in (compatibility_warning(family, target.model_family, "model"),
                            compatibility_warning(family, target.clip_family, "text encoder")) if w]
    if keys and keys.get("unmatched_keys"):
        examples = ", ".join(keys.get("unmatched_examples", [])[:3])
        warnings.append(f"{keys['unmatched_keys']} of {keys['file_keys']} keys matched no weight (e.g. {examples})")
    if summary.adapter != "lora":
        warnings.append(f"this is a {summary.adapter} adapter; key counts come from ComfyUI's loader")
    return InspectReport(file=name, ok=True, summary=summary.to_dict(), target=target.__dict__, keys=keys,
                         warnings=warnings)


def failed_report(name: str, error: Exception, target: Target) -> InspectReport:
    """A report for a file that could not be read; the node passes MODEL/CLIP through unchanged."""
    return InspectReport(file=name, ok=False, target=target.__dict__, error=str(error),
                         warnings=["the LoRA was not applied; the model is unchanged"])


def inspect_lora(name: str, locate: Callable[[str], Path], target: Target, apply: Applier,
                 unchanged: tuple[object, object]) -> tuple[object, object, InspectReport]:
    """The LoRA Inspect use case: read the header, load the tensors, apply them, report.

    A missing or unreadable file is reported and ``unchanged`` (the incoming model and clip) is returned, so a
    graph keeps running without the LoRA.
    """
    try:
        path = locate(name)
        summary = inspect_file(path)
        tensors, _ = load_tensors(path)
    except (LoraFileError, FileNotFoundError) as exc:
        return (*unchanged, failed_report(name, exc, target))
    new_model, new_clip, keys = apply(tensors)
    return new_model, new_clip, build_report(name, summary, target, keys)
