"""``lora-lab``: the pack's engines from a shell (inspect, convert, demo, bench, and one command per capability).

Each command is a module with ``add_parser(subparsers)`` that sets ``func``; ``COMMANDS`` lists them.
Errors the user can fix (bad file, bad argument) print one line and exit 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import bench_cmd, convert_cmd, demo_cmd, discover_cmd, docs_cmd, inspect_cmd, queue_cmd, refiner_cmd, t2l_cmd, train_cmd

COMMANDS = (inspect_cmd, convert_cmd, demo_cmd, bench_cmd, docs_cmd, discover_cmd, queue_cmd, train_cmd, refiner_cmd,
            t2l_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lora-lab", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"lora-lab {args.command}: error: {exc}", file=sys.stderr)
        return 2
