"""Benchmarks: ``lora-lab bench NAME --json``. Each prints one JSON object as its last line.

Machines here are noisy, so every benchmark measures a reference in the same run and reports ratios
next to absolute numbers. A benchmark module exposes ``add_arguments(parser)`` and ``run(args) -> dict``.
"""

from __future__ import annotations

BENCHMARKS = {
    "lora-format": "lora_format",
    "refiner": "refiner",
    "discovery": "discovery",
    "discovery-semantic": "discovery_semantic",
    "discovery-real": "discovery_real",
    "discovery-fit": "discovery_fit",
    "explorer": "explorer",
    "brand-cache": "brand_cache",
    "trainer": "trainer",
    "trainer-memory": "trainer_memory",
    "gpu": "gpu",
    "t2l": "t2l",
    "draft-flow": "draft_flow",
}
