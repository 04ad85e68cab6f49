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

from ..lora_format import LoraDescription, save_lora
from ..lora_format.errors import OutputExistsError
from .pipeline import T2LResult
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
