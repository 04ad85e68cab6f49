"""``lora-lab t2l "prompt" --encoder DIR --preset sd15 --out FILE``, and ``lora-lab t2l train-proposer ...``.

An encoder folder is a transformers model folder (config.json + *.safetensors, tokenizer files; a CLIP folder
without tokenizer files uses the bundled SD CLIP tokenizer). Multi-encoder presets take ``--encoder NAME=DIR``
per encoder (``clip_l=...``, ``clip_g=...``, ``t5xxl=...``). Calibrations (fitted once per model) and proposers
live in ``--store`` (default ``~/.cache/comfyui-lora-lab/text_to_lora``).
"""

from __future__ import annotations

import json
from pathlib import Path

TRAIN = "train-proposer"
DEFAULT_STORE = Path.home() / ".cache" / "comfyui-lora-lab" / "text_to_lora"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("t2l", help="optimise a per-prompt text-encoder LoRA (or: t2l train-proposer)",
                                   description=__doc__)
    parser.add_argument("prompt", help=f"the prompt, or '{TRAIN}' to train a proposer")
    parser.add_argument("--encoder", action="append", required=True, metavar="[NAME=]DIR",
                        help="transformers folder of the text encoder (repeat NAME=DIR for several)")
    parser.add_argument("--preset", default="sd15", help="sd15, sdxl, sd3, flux, minilm, or a config .json")
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr", type=float, default=3e-3,
                        help="Adam step size (backed off, with a note, if it leaves the budget on the first steps)")
    parser.add_argument("--budget", type=float, default=0.05,
                        help="largest relative L2 change of the conditioning the model reads (all padded positions "
                             "and the pooled vector where used)")
    parser.add_argument("--keep", type=float, default=1.0, help="weight of the keep term, in units of the budget")
    parser.add_argument("--device", default="auto", help="cpu, cuda or cuda:N (auto: the CPU)")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                        help="matrices of the loop: auto = bf16 where supported (CUDA, or a CPU with native bf16), "
                             "fp16 with loss scaling on GPUs without bf16, else fp32")
    parser.add_argument("--proposer", action="append", default=[], metavar="[NAME=]FILE",
                        help="proposer file (repeat NAME=FILE per encoder)")
    parser.add_argument("--store", default=str(DEFAULT_STORE), help="folder of calibrations and proposers")
    parser.add_argument("--out", required=True, help="the .safetensors file to write (never overwritten)")
    parser.add_argument("--prompts", type=int, default=80, help=f"{TRAIN}: corpus prompts to learn from")
    parser.add_argument("--rounds", type=int, default=16, help=f"{TRAIN}: rounds of propose, optimise, regress")
    parser.add_argument("--round-prompts", type=int, default=40, help=f"{TRAIN}: corpus prompts per round")
    parser.add_argument("--validation-prompts", type=int, default=16,
                        help=f"{TRAIN}: corpus prompts held back to pick the best round")
    parser.add_argument("--inner-steps", type=int, default=4,
                        help=f"{TRAIN}: optimiser steps from each proposal per round")
    parser.add_argument("--epochs", type=int, default=40, help=f"{TRAIN}: regression epochs per round")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def _pairs(values: list[str], components: list[str], what: str) -> dict[str, str]:
    """``NAME=PATH`` items (a bare PATH belongs to the only encoder of a one-encoder config)."""
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            if len(components) != 1:
                raise ValueError(f"{what} '{value}': this preset has encoders {components}; write NAME={value}")
            name, path = components[0], value
        if name not in components:
            raise ValueError(f"{what} '{value}': '{name}' is not an encoder of this preset ({components})")
        out[name] = path
    return out


def _bundles(args, config):
    from ..engines.text_to_lora.encoders import load_encoder_dir
    from ..engines.text_to_lora.pipeline import EncoderBundle
    from ..engines.text_to_lora.tokenizer import wrap_tokenizer

    components = [e.component for e in config.encoders]
    folders = _pairs(args.encoder, components, "--encoder")
    missing = [c for c in components if c not in folders]
    if missing:
        raise ValueError(f"preset '{config.name}' needs --encoder for {missing}")
    bundles = []
    for target in config.encoders:
        encoder, tokenizer = load_encoder_dir(folders[target.component], target.kind, target.conditioning_layer,
                                              target.layer_norm_hidden_state)
        bundles.append(EncoderBundle(target.component, encoder, wrap_tokenizer(tokenizer, target.kind,
                                                                             target.mask_token)))
    return bundles


def _check_before_loading(args, request) -> None:
    """Family/layout, device and the weights' memory, before any encoder is read (the rest is checked by the
    pipeline's preflight before step 1)."""
    from ..engines.text_to_lora import device as device_policy
    from ..engines.text_to_lora.pipeline import check_layout

    check_layout(request.config, request.layout)
    plan = device_policy.plan(request.device, None, request.precision)
    for target in request.config.encoders:
        needed = device_policy.estimate_bytes(target, target.max_tokens // 4, plan, checkpointing=target.kind == "t5")
        device_policy.check_fits(needed, device_policy.available_bytes(needed), f"encoder '{target.component}'")


def _request(args, prompt: str):
    from ..engines.text_to_lora.config import load_config
    from ..engines.text_to_lora.optimiser import OptimiseConfig
    from ..engines.text_to_lora.pipeline import T2LRequest

    config = load_config(args.preset).with_rank(args.rank)
    proposers = _pairs(args.proposer, [e.component for e in config.encoders], "--proposer")
    optimiser = OptimiseConfig(steps=args.steps, learning_rate=args.lr, budget=args.budget, keep_weight=args.keep,
                               weight_decay=args.weight_decay, seed=args.seed)
    return T2LRequest(prompt, config, optimiser, Path(args.store), proposers, precision=args.precision,
                      device=args.device)


def _print_progress(done: int, total: int, message: str = "") -> None:
    if message and (done == total or done % 10 == 0 or done <= 1):
        print(f"  [{done}/{total}] {message}", flush=True)


def run(args) -> int:
    if Path(args.out).exists():
        raise FileExistsError(f"{args.out} already exists; choose another --out (files are never replaced)")
    if args.prompt == TRAIN:
        return train(args)
    from ..engines.text_to_lora import output, pipeline

    request = _request(args, args.prompt)
    _check_before_loading(args, request)
    result = pipeline.run(request, _bundles(args, request.config), _print_progress)
    path = output.save_result_as(result, args.out)
    summary = result.summary() | {"path": str(path)}
    if args.json:
        print(json.dumps(summary, default=str))
        return 0
    for report in result.reports:
        print(f"{report.component}: NLL {report.nll_base:.4f} -> {report.nll_after:.4f} "
              f"({100 * report.nll_drop:.1f}% drop), conditioning change {report.conditioning_change:.4f} "
              f"(budget {report.budget:g}, read layer {report.read_layer}, {report.positions_kept} positions), "
              f"shuffled control gap {report.control_gap:.4f}{' [control flagged]' if report.control_flagged else ''}, "
              f"{report.steps_run} steps, {report.seconds:.1f}s on {report.device['device']} "
              f"({report.device['matrices']} matrices)")
        for warning in report.warnings:
            print(f"  note: {warning}")
    print(f"wrote {path}")
    return 0


def train(args) -> int:
    """Meta-learn a proposer for the (single) encoder of the preset from optimiser runs over the corpus."""
    from ..engines.text_to_lora import corpus
    from ..engines.text_to_lora.pipeline import calibration_for, matrix_dtype, prepare, score_window
    from ..engines.text_to_lora.proposer import ProposerSpec, save_proposer
    from ..engines.text_to_lora.proposer_train import TrainConfig, corpus_prompts, train_proposer

    request = _request(args, TRAIN)
    bundles = _bundles(args, request.config)
    if len(bundles) != 1:
        raise ValueError("train-proposer trains one encoder at a time; use a one-encoder preset or config")
    bundle = bundles[0]
    assembly, target = prepare(bundle, request.config)
    calibration = calibration_for(bundle, request.config, request.store, request.calibration_prompts,
                                  request.calibration_positions, _print_progress)
    hot = bundle.encoder.with_matrix_dtype(matrix_dtype(request.precision))
    prompts = corpus_prompts(corpus.generate(args.prompts, "train"), bundle.encoder, hot, bundle.tokenizer,
                             bundle.tokenizer.window(target.max_tokens), calibration, score_window(bundle, target),
                             request.optimise.negatives)
    spec = ProposerSpec(bundle.component, request.config.name, calibration.fingerprint, bundle.encoder.hidden_size,
                        assembly.rank, assembly.alpha,
                        tuple((s.path, s.in_features, s.out_features) for s in assembly.slots))
    config = TrainConfig(rounds=args.rounds, prompts_per_round=args.round_prompts,
                         validation_prompts=args.validation_prompts, inner_steps=args.inner_steps, epochs=args.epochs,
                         seed=args.seed)
    proposer, history = train_proposer(spec, prompts, request.optimise, config, _print_progress)
    path = save_proposer(args.out, proposer, history.summary() | {"inner_steps": config.inner_steps,
                                                                  "learning_rate": request.optimise.learning_rate})
    print(f"wrote {path} ({history.prompts} prompts, {config.rounds} rounds; NLL after {config.inner_steps} steps "
          f"from the proposals: {history.validation_nll[0]:.3f} -> {history.validation_nll[history.best_round]:.3f} "
          f"of the unmodified NLL on validation prompts, best round {history.best_round}; "
          f"{history.seconds:.0f}s)")
    return 0
