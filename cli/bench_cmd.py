"""``lora-lab bench NAME [--json] [options]``: run one benchmark from ``bench/``; its last line is JSON."""

from __future__ import annotations

import importlib
import json


def add_parser(subparsers) -> None:
    from ..bench import BENCHMARKS

    parser = subparsers.add_parser("bench", help="run a benchmark (prints one JSON object last)")
    names = parser.add_subparsers(dest="name", required=True)
    for name, module_name in sorted(BENCHMARKS.items()):
        module = importlib.import_module(f"..bench.{module_name}", __package__)
        bench = names.add_parser(name, help=(module.__doc__ or "").splitlines()[0], description=module.__doc__)
        bench.add_argument("--json", action="store_true", help="print only the JSON object")
        module.add_arguments(bench)
        bench.set_defaults(func=run, bench_module=module)


def run(args) -> int:
    result = args.bench_module.run(args)
    if not args.json:
        for key, value in result.items():
            print(f"{key:>32}: {value}")
    print(json.dumps(result, sort_keys=True))
    return 0
