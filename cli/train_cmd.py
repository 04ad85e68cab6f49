"""``lora-lab train``: check a dataset (``validate``), train a LoRA (``run``), list engines (``engines``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="check a dataset or train a LoRA from an image + caption folder")
    commands = parser.add_subparsers(dest="train_command", required=True)
    validate = commands.add_parser("validate", help="preflight a dataset (no model is loaded)")
    validate.add_argument("dataset", help="folder of images with same-name .txt captions (or N_name subfolders)")
    _dataset_options(validate)
    validate.add_argument("--write-captions", action="store_true", help="create missing captions from the template")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.set_defaults(func=run_validate)
    run = commands.add_parser("run", help="train a LoRA")
    run.add_argument("dataset")
    run.add_argument("--name", required=True, help="LoRA name: the file is <out>/<name>.safetensors")
    run.add_argument("--model", required=True, help="base model: a .safetensors checkpoint, a diffusers folder, "
                                                    "or an mflux model name")
    run.add_argument("--engine", default="auto", help="auto, inprocess, kohya or mflux")
    run.add_argument("--resume", action="store_true", help="continue from the run's newest saved state")
    run.add_argument("--overwrite", action="store_true", help="replace an existing LoRA of that name")
    run.add_argument("--out", default="loras", help="folder for the LoRA file (default ./loras)")
    run.add_argument("--runs", default="lora-lab-runs", help="folder for run files (state, loss log, samples)")
    run.add_argument("--brand", default="", help="write into <out>/<brand>/ (a brand folder)")
    run.add_argument("--processes", type=int, default=1, help="data-parallel processes (accelerate launch)")
    run.add_argument("--family", help="sd15, sdxl or flux (default: detected from the model)")
    for flag, kind in (("rank", int), ("epochs", int), ("max-steps", int), ("learning-rate", float),
                       ("batch-size", int), ("seed", int), ("sample-steps", int), ("save-every", int),
                       ("gradient-accumulation", int)):
        run.add_argument(f"--{flag}", type=kind, help="default: the family's default (see TrainingConfig)")
    run.add_argument("--train-text-encoder", action="store_true", default=None)
    run.add_argument("--gradient-checkpointing", action="store_true", default=None,
                     help="recompute activations in the backward: less memory, slower")
    run.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    run.add_argument("--precision", help="auto (default: fp32 on CPU/MPS, bf16 on CUDA where supported, else fp16 "
                                         "with loss scaling), fp32, fp16 or bf16")
    run.add_argument("--no-memory-check", action="store_true", help="skip the memory preflight (estimate and refusal)")
    run.add_argument("--threads", type=int, help="torch CPU threads")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    _dataset_options(run, resolution_default=None)
    run.set_defaults(func=run_train)
    engines = commands.add_parser("engines", help="list training engines and what each needs")
    engines.set_defaults(func=run_engines)


def _dataset_options(parser, resolution_default: int | None = 512) -> None:
    parser.add_argument("--trigger", default="", help="trigger word ([trigger] in captions is replaced by it)")
    parser.add_argument("--resolution", type=int, default=resolution_default, help="training resolution (pixels)")
    parser.add_argument("--caption-template", default="", help="caption for images without one, e.g. "
                                                                "'a photo of [trigger]'")


def run_validate(args) -> int:
    from ..engines.training.preflight import preflight, write_missing_captions

    report = preflight(args.dataset, args.trigger, args.resolution, args.caption_template)
    written = write_missing_captions(report) if args.write_captions and report.ok else []
    if args.json:
        print(json.dumps(report.to_dict() | {"captions_written": [str(p) for p in written]}, sort_keys=True))
    else:
        print(report.text())
        for path in written:
            print(f"wrote caption {path}")
    return 0 if report.ok else 1


def _request(args):
    from ..engines.training.usecase import TrainRequest

    settings = dict(rank=args.rank, epochs=args.epochs, max_steps=args.max_steps, learning_rate=args.learning_rate,
                    batch_size=args.batch_size, seed=args.seed, sample_steps=args.sample_steps,
                    save_every=args.save_every, gradient_accumulation=args.gradient_accumulation,
                    resolution=args.resolution, trigger_word=args.trigger or None,
                    caption_template=args.caption_template or None, train_text_encoder=args.train_text_encoder,
                    device=args.device, precision=args.precision,
                    gradient_checkpointing=args.gradient_checkpointing)
    return TrainRequest(Path(args.dataset), Path(args.model), args.name, Path(args.out), Path(args.runs), settings,
                        engine=args.engine, family=args.family, subfolder=args.brand, resume=args.resume,
                        overwrite=args.overwrite, processes=args.processes, memory_check=not args.no_memory_check)


def _print_progress(done: int, total: int, message: str = "") -> None:
    print(message or f"step {done}/{total}", flush=True)


def run_train(args) -> int:
    from ..engines.training.usecase import train_lora

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    log = (lambda message: print(message, file=sys.stderr)) if args.json else print
    quiet = lambda done, total, message="": None  # noqa: E731
    result = train_lora(_request(args), quiet if args.json else _print_progress, log=log)
    if args.json:
        print(json.dumps(result.to_dict(), sort_keys=True))
    else:
        print(f"wrote {result.lora_path} ({result.steps} steps, final loss {result.final_loss})")
        print(f"run files: {result.run_dir} (loss plot {result.loss_plot})")
    return 0


def run_engines(args) -> int:
    from ..engines.training.registry import engine_report, platform_tag

    print(f"platform: {platform_tag()}")
    for name, info in engine_report().items():
        state = "available" if info["available"] else "unavailable: " + "; ".join(info["missing"])
        print(f"{name:10} {', '.join(info['families']):12} {state}")
    return 0
