"""``lora-lab bench NAME [--json] [--check] [options]``: run one benchmark from ``bench/``; its last line is JSON.

``--check`` compares the result with the module's ``GOALS`` (see ``bench/goals.py``), prints one line per
goal on stderr and exits 1 when any figure misses its goal or was not measured (2 when the module states
no goals), so scripts such as ``bench/check_all.sh`` can see every goal at once.
"""

from __future__ import annotations

import importlib
import json
import sys


def add_parser(subparsers) -> None:
    from ..bench import BENCHMARKS

    parser = subparsers.add_parser("bench", help="run a benchmark (prints one JSON object last)")
    names = parser.add_subparsers(dest="name", required=True)
    for name, module_name in sorted(BENCHMARKS.items()):
        module = importlib.import_module(f"..bench.{module_name}", __package__)
        bench = names.add_parser(name, help=(module.__doc__ or "").splitlines()[0], description=module.__doc__)
        bench.add_argument("--json", action="store_true", help="print only the JSON object")
        bench.add_argument("--check", action="store_true",
                           help="exit non-zero when a figure misses the goal the module's GOALS states")
        module.add_arguments(bench)
        bench.set_defaults(func=run, bench_module=module)


def run(args) -> int:
    from ..bench import goals

    stated = getattr(args.bench_module, "GOALS", {})
    if args.check:
        goals.validate(stated, args.bench_module.__name__)
    result = args.bench_module.run(args)
    if not args.json:
        for key, value in result.items():
            print(f"{key:>32}: {value}")
    print(json.dumps(result, sort_keys=True))
    if not args.check:
        return 0
    verdicts = goals.check(stated, result)
    print("\n".join(goals.summary_lines(args.name, verdicts)), file=sys.stderr)
    if not verdicts:
        return 2
    return 0 if all(v["met"] for v in verdicts.values()) else 1
