"""A copy of the dataset as external trainers expect it: final captions beside linked images.

kohya and mflux read ``image.png`` + ``image.txt`` themselves, without our ``[trigger]`` replacement,
metadata.jsonl captions or class-token fallbacks. So we stage exactly what the preflight decided: one
folder per subset, images hard-linked (or copied across file systems), captions written as trained.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .preflight import PreflightReport

STAGED_DIR = "dataset"


@dataclass(frozen=True)
class StagedSubset:
    folder: Path
    repeats: int
    images: int


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def stage_dataset(report: PreflightReport, run_dir: Path, flat: bool = False) -> list[StagedSubset]:
    """Recreate ``run_dir/dataset/`` from the report: one folder per subset, or one folder (``flat``)."""
    root = Path(run_dir) / STAGED_DIR
    shutil.rmtree(root, ignore_errors=True)
    subsets: dict = {}
    for item in report.items:
        key = None if flat else item.subset.path
        if key not in subsets:
            subsets[key] = [root if flat else root / f"subset_{len(subsets)}", item.subset.repeats, 0]
        folder = subsets[key][0]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{subsets[key][2]:05d}_{item.image.name}"
        _link_or_copy(item.image, target)
        target.with_suffix(".txt").write_text(item.caption + "\n", encoding="utf-8")
        subsets[key][2] += 1
    return [StagedSubset(folder, repeats, images) for folder, repeats, images in subsets.values()]
