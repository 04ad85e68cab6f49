"""``lora-lab demo``: run every engine end to end on small random-weight models, offline.

Each capability contributes one step (a function ``(workdir) -> dict`` of what it made and measured);
``STEPS`` lists them in order. A step's failure stops the demo with its error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from . import demo_brands, demo_discovery, demo_explorer, demo_lora_format, demo_refiner, demo_t2l, demo_trainer

STEPS = (
    ("LoRA file core", demo_lora_format.run),
    ("LoRA discovery", demo_discovery.run),
    ("Checkpoint explorer", demo_explorer.run),
    ("Brand LoRA stacks", demo_brands.run),
    ("LoRA trainer", demo_trainer.run),
    ("Prompt refiner", demo_refiner.run),
    ("Text to LoRA", demo_t2l.run),
)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run every engine on small random-weight models (offline)")
    parser.add_argument("--out", default="lora-lab-demo", help="folder for the files the demo writes")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.set_defaults(func=run)


def run(args) -> int:
    workdir = Path(args.out).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    for title, step in STEPS:
        start = time.perf_counter()
        if not args.json:
            print(f"== {title}")
        result = step(workdir)
        result["seconds"] = round(time.perf_counter() - start, 2)
        results[title] = result
        if not args.json:
            for key, value in result.items():
                print(f"   {key}: {value}")
    if args.json:
        print(json.dumps(results, sort_keys=True))
    else:
        print(f"demo finished; files in {workdir}")
    return 0
