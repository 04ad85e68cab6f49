"""``lora-lab docs [--check]``: regenerate docs/NODES.md and locales/en/nodeDefs.json from the node specs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generated() -> dict[Path, str]:
    from ..nodes import NODE_MODULES
    from ..nodes.docs import node_defs, nodes_markdown

    specs = [module.SPEC for module in NODE_MODULES]
    return {
        ROOT / "docs" / "NODES.md": nodes_markdown(specs),
        ROOT / "locales" / "en" / "nodeDefs.json": json.dumps(node_defs(specs), indent=2, ensure_ascii=False) + "\n",
    }


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("docs", help="regenerate the node reference from the node specs")
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    parser.set_defaults(func=run)


def run(args) -> int:
    stale = [path for path, text in generated().items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)} (run lora-lab docs)", file=sys.stderr)
        return 1 if stale else 0
    for path, text in generated().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(generated())} files ({len(stale)} changed)")
    return 0
