"""``lora-lab convert IN OUT --to kohya|peft|comfy``: rewrite a LoRA's keys for another tool."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    from ..engines.lora_format import FAMILIES, LAYOUTS

    parser = subparsers.add_parser("convert", help="convert a LoRA between kohya, PEFT/diffusers and ComfyUI layouts")
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--to", required=True, choices=sorted(LAYOUTS), help="layout to write")
    parser.add_argument("--family", choices=[f for f in FAMILIES if f != "unknown"],
                        help="base family, when the file neither declares nor implies it")
    parser.add_argument("--overwrite", action="store_true", help="replace TARGET if it exists")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..engines.lora_format import convert_file, inspect_file

    path = convert_file(args.source, args.target, args.to, family=args.family, overwrite=args.overwrite)
    summary = inspect_file(path)
    print(f"wrote {path}: {summary.layout}, family {summary.family}, rank {summary.rank}, "
          f"{summary.tensor_keys} tensors")
    return 0
