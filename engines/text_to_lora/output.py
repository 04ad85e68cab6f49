"""Write a text-to-LoRA result as a kohya ``.safetensors`` with its full story in the metadata.

Keys follow ComfyUI's text-encoder map (``lora_te_`` for SD1.x, ``lora_te1_``/``lora_te2_`` for SDXL, ``lora_te3_``
for SD3's T5...), written by the foundation's ``save_lora`` (atomic: temp file, fsync, rename). A new file never
replaces an existing one: the name gets the next free counter.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from dataclasses import dataclass

from ..lora_format import LoraDescription, render, save_lora
from ..lora_format.errors import OutputExistsError
from ..progress import Progress, no_progress
from .pipeline import EncoderBundle, T2LRequest, T2LResult, run
from .text import strip_prompt_syntax

SUBFOLDER = "text_to_lora"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def file_stem(prefix: str, prompt: str) -> str:
    """``<prefix>_<first words>_<hash8>``: readable (the words without weight/LoRA syntax), and stable for the same
    prompt (the hash is of the prompt as given)."""
    readable = strip_prompt_syntax(prompt).text or prompt
    words = _UNSAFE.sub("_", "_".join(readable.lower().split()[:5])).strip("_")[:40] or "prompt"
    clean_prefix = _UNSAFE.sub("_", prefix).strip("_") or "t2l"
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8]
    return f"{clean_prefix}_{words}_{digest}"


def metadata_for(result: T2LResult) -> dict:
    reports = result.reports
    return {
        "t2l.prompt": result.prompt,
        "t2l.config": json.dumps(result.config.to_json(), sort_keys=True),
        "t2l.preset": result.config.name,
        "t2l.rank": result.config.lora_rank,
        "t2l.steps": {r.component: r.steps_run for r in reports},
        "t2l.seed": result.seed,
        "t2l.score_before": {r.component: -r.nll_base for r in reports},
        "t2l.score_after": {r.component: -r.nll_after for r in reports},
        "t2l.nll_drop": {r.component: r.nll_drop for r in reports},
        "t2l.drift": {r.component: r.drift for r in reports},
        "t2l.conditioning_change": {r.component: r.conditioning_change for r in reports},
        "t2l.budget": {r.component: r.budget for r in reports},
        "t2l.read_layer": {r.component: r.read_layer for r in reports},
        "t2l.control_flagged": {r.component: r.control_flagged for r in reports},
        "t2l.device": {r.component: r.device for r in reports},
        "t2l.pooled_cos": {r.component: r.pooled_cos for r in reports},
        "t2l.control_gap": {r.component: r.control_gap for r in reports},
        "t2l.proposer": {r.component: r.proposer for r in reports},
        "t2l.calibration": {r.component: r.calibration for r in reports},
    }


def describe(result: T2LResult) -> LoraDescription:
    return LoraDescription(
        title=f"text-to-LoRA: {result.prompt[:60]}", family=result.config.family, rank=result.config.lora_rank,
        alpha=result.config.lora_alpha, description=result.prompt, network_module="networks.lora",
        extra_ss={"ss_training_comment": f"per-prompt text-encoder LoRA for: {result.prompt}"},
        lab=metadata_for(result))


def save_result_as(result: T2LResult, path: str | os.PathLike[str], overwrite: bool = False,
                   layout: str = "kohya") -> Path:
    """Write to exactly ``path`` (refusing an existing file unless ``overwrite``)."""
    return save_lora(path, result.weights, describe(result), layout=layout, overwrite=overwrite)


def save_result(result: T2LResult, folder: str | os.PathLike[str], prefix: str = "t2l", layout: str = "kohya") -> Path:
    """Write into ``folder`` (created if needed) under the next free ``<stem>_NNNNN.safetensors`` name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    description = describe(result)
    stem = file_stem(prefix, result.prompt)
    for counter in range(1, 100_000):
        path = folder / f"{stem}_{counter:05d}.safetensors"
        if path.exists():
            continue
        try:
            return save_lora(path, result.weights, description, layout=layout)
        except OutputExistsError:
            continue
    raise OutputExistsError(folder / stem, "no free file name left")


@dataclass
class T2LOutcome:
    """One finished run as the node shows it: the result, where it was saved, the kohya tensors to apply."""

    result: T2LResult
    path: Path | None
    kohya_tensors: dict
    curve: object  # (H, W, 3) float image of the loss curves

    @property
    def path_text(self) -> str:
        return str(self.path or "")

    @property
    def summary(self) -> dict:
        return self.result.summary() | {"path": self.path_text}

    @property
    def text(self) -> str:
        lines = [f"{r.component}: NLL {r.nll_base:.3f} -> {r.nll_after:.3f} ({100 * r.nll_drop:.1f}% drop), "
                 f"conditioning change {r.conditioning_change:.4f} (budget {r.budget:g}, read layer {r.read_layer}, "
                 f"{r.positions_kept} positions), shuffled-control gap {r.control_gap:.3f}"
                 f"{' [control flagged]' if r.control_flagged else ''}, {r.steps_run} steps in {r.seconds:.1f}s on "
                 f"{r.device.get('device', 'cpu')}" for r in self.result.reports]
        lines += [f"  note: {w}" for r in self.result.reports for w in r.warnings]
        lines.append(f"saved {self.path}" if self.path else "not saved")
        return "\n".join(lines)


def text_to_lora(request: T2LRequest, bundles: list[EncoderBundle], folder: str | os.PathLike[str] | None,
                 prefix: str = "t2l", progress: Progress = no_progress) -> T2LOutcome:
    """The node's use case: run, save into ``folder`` (None: do not save), and render the kohya tensors."""
    from .plot import loss_curve_image

    result = run(request, bundles, progress)
    path = save_result(result, folder, prefix) if folder is not None else None
    curve = loss_curve_image({r.component: r.curve for r in result.reports})
    return T2LOutcome(result, path, render(result.weights, "kohya", result.config.family), curve)
