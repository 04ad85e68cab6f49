"""``lora-lab inspect FILE``: format, family, rank, alpha, trigger words and metadata, from the header."""

from __future__ import annotations

import json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("inspect", help="describe a LoRA file (reads only its header)")
    parser.add_argument("file")
    parser.add_argument("--json", action="store_true", help="print the full summary as JSON")
    parser.add_argument("--metadata", action="store_true", help="include every metadata key")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..engines.lora_format import inspect_file

    summary = inspect_file(args.file)
    if args.json:
        print(json.dumps(summary.to_dict(with_metadata=args.metadata), indent=2))
        return 0
    print(f"file:     {summary.path} ({summary.size_bytes:,} bytes)")
    print(f"format:   {summary.layout} ({summary.adapter})")
    print(f"family:   {summary.family} ({summary.family_source}: {summary.family_evidence})")
    print(f"rank:     {summary.rank}" + (f" (ranks {summary.ranks})" if len(summary.ranks) > 1 else ""))
    print(f"alpha:    {summary.alpha}")
    print(f"modules:  {summary.modules}  ({summary.tensor_keys} tensors, {summary.unparsed_keys} not LoRA keys)")
    print(f"title:    {summary.title}")
    if summary.trigger_words:
        print(f"triggers: {', '.join(summary.trigger_words)}")
    if summary.tag_hints:
        print(f"top tags: {', '.join(summary.tag_hints)}")
    if args.metadata:
        for key in sorted(summary.metadata):
            print(f"  {key} = {summary.metadata[key][:200]}")
    return 0
