"""``lora-lab refiner``: make pairs, make a small local base, train an adapter, evaluate, refine, serve over HTTP.

    lora-lab refiner data --n 500 --seed 0 --out pairs.json
    lora-lab refiner base --data pairs.json --out models/prompt_refiner/local-t5     # only without a real Flan-T5
    lora-lab refiner train --base models/prompt_refiner/local-t5 --data pairs.json --out models/prompt_refiner/refiner
    lora-lab refiner eval --base DIR --adapter DIR --data pairs.json
    lora-lab refiner refine "create function" --models models/prompt_refiner
    lora-lab refiner serve --host 127.0.0.1 --port 8000 --models models/prompt_refiner
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_MODELS = "models/prompt_refiner"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("refiner", help="PromptRefiner: data, local base, LoRA training, refine, serve",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="refiner_command", required=True)
    for add in (_add_data, _add_base, _add_train, _add_eval, _add_refine, _add_serve):
        add(commands)


def _add_data(commands) -> None:
    parser = commands.add_parser("data", help="generate seeded vague -> structured pairs (JSON)")
    parser.add_argument("--n", type=int, default=500, help="number of pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-out", type=int, default=50, help="pairs kept out of training for evaluation")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(func=_run(_data))


def _add_base(commands) -> None:
    parser = commands.add_parser("base", help="make a small local T5 base folder (tokenizer + pre-training)")
    parser.add_argument("--data", required=True, help="pairs JSON: its training texts join the corpus, its held-out "
                                                       "texts are kept out of it")
    parser.add_argument("--out", required=True, help="new folder to write")
    parser.add_argument("--shape", default="local", help="tiny, local, flan-t5-small or flan-t5-base")
    parser.add_argument("--vocab", type=int, default=2000, help="tokenizer vocabulary size (at most)")
    parser.add_argument("--pretrain-steps", type=int, default=1500, help="denoising steps (0: random weights)")
    parser.add_argument("--extra-documents", type=int, default=20000,
                        help="unlabeled phrasebook documents added to the pre-training corpus")
    parser.add_argument("--corpus-seed", type=int, default=1000, help="seed of those documents")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=_run(_base))


def _add_train(commands) -> None:
    parser = commands.add_parser("train", help="train a LoRA adapter on a frozen base folder")
    parser.add_argument("--base", required=True, help="base model folder (Flan-T5 layout)")
    parser.add_argument("--data", required=True, help="pairs JSON")
    parser.add_argument("--out", required=True, help="adapter folder to write (put it beside the base)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32.0)
    parser.add_argument("--targets", default="q,v", help="comma-separated module names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-limit", type=int, default=None, help="score only the first N held-out pairs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing adapter folder")
    parser.set_defaults(func=_run(_train))


def _add_eval(commands) -> None:
    parser = commands.add_parser("eval", help="score base + adapter on the held-out pairs")
    parser.add_argument("--base", required=True)
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    _add_precision(parser)
    parser.set_defaults(func=_run(_eval))


def _add_precision(parser) -> None:
    from ..engines.prompt_refiner.precision import PRECISIONS

    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="number format of the loaded model (auto: int8 on the cpu, fp32 on a GPU)")


def _add_model_choice(parser) -> None:
    parser.add_argument("--base", help="base model folder (with --adapter; else the choice in --models)")
    parser.add_argument("--adapter", help="adapter folder")
    parser.add_argument("--models", default=DEFAULT_MODELS, help="a prompt_refiner folder to pick from")


def _add_refine(commands) -> None:
    parser = commands.add_parser("refine", help="refine one prompt")
    parser.add_argument("prompt")
    _add_model_choice(parser)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=None, help="sample with this seed (default: greedy)")
    parser.add_argument("--device", default="cpu")
    _add_precision(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=_run(_refine))


def _add_serve(commands) -> None:
    parser = commands.add_parser("serve", help="serve POST /prompt_refiner/refine outside ComfyUI")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    _add_model_choice(parser)
    parser.add_argument("--data-dir", default=".lora-lab", help="state folder (prompt_refiner.json settings)")
    parser.set_defaults(func=_run(_serve))


def _run(command):
    """Report the refiner's own errors (missing model, busy, timeout) as one line and exit status 2."""
    def run(args) -> int:
        from ..engines.prompt_refiner.errors import RefinerError

        try:
            return command(args)
        except RefinerError as exc:
            print(f"lora-lab refiner {args.refiner_command}: error: {exc}", file=sys.stderr)
            return 2

    return run


def _print_progress(done: int, total: int, message: str = "") -> None:
    print(f"[{done}/{total}] {message}", flush=True)


def _data(args) -> int:
    from ..engines.prompt_refiner.data import DataConfig, generate_pairs, save_pairs

    pair_set = generate_pairs(DataConfig(n=args.n, seed=args.seed, held_out=args.held_out))
    path = save_pairs(pair_set, args.out, overwrite=args.overwrite)
    print(f"wrote {len(pair_set.train)} training + {len(pair_set.held_out)} held-out pairs to {path} "
          f"(sha256 {pair_set.sha256()[:16]})")
    print(json.dumps(pair_set.stats))
    return 0


def _base(args) -> int:
    from ..engines.prompt_refiner.data import load_pairs
    from ..engines.prompt_refiner.local_base import LocalBaseConfig, create_local_base, pretraining_corpus
    from ..engines.prompt_refiner.pretrain import PretrainConfig

    pretraining = PretrainConfig(steps=args.pretrain_steps, seed=args.seed) if args.pretrain_steps > 0 else None
    config = LocalBaseConfig(shape=args.shape, vocab_size=args.vocab, seed=args.seed, pretrain=pretraining,
                             extra_documents=args.extra_documents, corpus_seed=args.corpus_seed)
    corpus = pretraining_corpus(load_pairs(args.data), config)
    print(f"pre-training corpus: {len(corpus)} documents", flush=True)
    every = max(1, args.pretrain_steps // 20)
    path = create_local_base(corpus, args.out, config,
                             lambda d, t, m="": _print_progress(d, t, m) if d % every == 0 or d == t else None)
    print(f"wrote base model folder {path}")
    return 0


def _train(args) -> int:
    from ..engines.prompt_refiner.data import load_pairs
    from ..engines.prompt_refiner.training import TrainConfig, train_adapter

    config = TrainConfig(rank=args.rank, alpha=args.alpha, target_modules=tuple(args.targets.split(",")),
                         epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size, seed=args.seed,
                         eval_limit=args.eval_limit)
    result = train_adapter(args.base, load_pairs(args.data), args.out, config, _print_progress, args.device,
                           overwrite=args.overwrite)
    print(f"wrote adapter {result.adapter_dir}: {result.trainable_parameters} trainable parameters, "
          f"epoch losses {[round(x, 4) for x in result.epoch_losses]}, {result.seconds:.1f} s")
    print(json.dumps({"eval": result.scores.to_dict() if result.scores else None}))
    return 0


def _eval(args) -> int:
    from ..engines.prompt_refiner.data import load_pairs
    from ..engines.prompt_refiner.evaluation import evaluate
    from ..engines.prompt_refiner.generation import DecodeSettings
    from ..engines.prompt_refiner.runtime import load_refiner

    loaded = load_refiner(Path(args.base), Path(args.adapter), args.device, precision=args.precision)
    pairs = load_pairs(args.data).held_out[:args.limit]
    if not pairs:
        raise ValueError(f"{args.data} has no held-out pairs to score")
    scores = evaluate(loaded.model, loaded.tokenizer, pairs, loaded.prefix, DecodeSettings(max_new_tokens=384),
                      args.device)
    print(json.dumps(scores.to_dict()))
    return 0


def _fixed(args) -> tuple[Path, Path] | None:
    if bool(args.base) != bool(args.adapter):
        raise ValueError("give both --base and --adapter, or neither (then the choice in --models is used)")
    return (Path(args.base), Path(args.adapter)) if args.base else None


def _refine(args) -> int:
    from ..engines.prompt_refiner.generation import DecodeSettings

    from ..engines.prompt_refiner.service import RefinerService

    service = RefinerService(lambda: [Path(args.models)], fixed=_fixed(args))
    choice = service.route_choice()
    loaded = service.cache.get(choice.base_dir, choice.adapter_dir, args.device, choice.base, choice.adapter,
                               args.precision)
    settings = DecodeSettings(max_new_tokens=args.max_new_tokens, sample=args.seed is not None, seed=args.seed or 0)
    result = loaded.refine(args.prompt, settings)
    if args.json:
        print(json.dumps({"refined": result.refined, **result.report()}))
        return 0
    print(result.refined)
    missing = result.report()["intent"]["missing"]
    print(f"\n[{result.model} + {result.adapter}, {result.new_tokens} tokens, {result.ms:.0f} ms"
          f"{', missing words: ' + ', '.join(missing) if missing else ''}]", file=sys.stderr)
    return 0


def _serve(args) -> int:
    from aiohttp import web

    from ..engines.lab import Lab
    from ..server_routes.app import build_app

    services = Lab(data_dir=Path(args.data_dir), refiner_model_dirs=lambda: [Path(args.models)],
                   refiner_fixed=_fixed(args))
    configured = services.refiner.describe()
    print(f"PromptRefiner on http://{args.host}:{args.port}/prompt_refiner/refine "
          f"(model: {configured['configured'] or configured['reason']})", flush=True)
    web.run_app(build_app(services), host=args.host, port=args.port, print=None)
    return 0
