"""Text-to-LoRA: speed at real CLIP-L shapes vs a plain PEFT loop; quality and proposer on all-MiniLM-L6-v2.

``--parts speed,quality,proposer`` picks what runs (the proposer part needs the quality part's B = 0 runs).
Keys: ``speed_s``, ``speedup_vs_plain``, ``conditioning_budget``, ``conditioning_change_max``, ``nll_drop``,
``shuffle_specificity``, ``cross_prompt_specificity``, ``control_flagged_rate``, ``proposer_step_ratio`` (with
``proposer_steps_median_without_prompt``, the ablation) and the details behind them.
"""

from __future__ import annotations

import tempfile

PARTS = ("speed", "quality", "proposer")
GOALS = {"conditioning_change_max_over_budget": ("<=", 1.0), "nll_drop": (">=", 0.30),
         "shuffle_specificity": (">=", 3.0), "cross_prompt_specificity": (">=", 10.0), "speed_s": ("<=", 3.0),
         "speedup_vs_plain": (">=", 3.0), "proposer_step_ratio": (">=", 2.0)}


def add_arguments(parser) -> None:
    parser.add_argument("--parts", default="speed,quality,proposer", help="comma list of speed, quality, proposer")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50)
    from ..engines.text_to_lora.optimiser import DEFAULT_LEARNING_RATE, DEFAULT_NEGATIVES

    parser.add_argument("--lr", type=float, default=DEFAULT_LEARNING_RATE)
    parser.add_argument("--negatives", type=int, default=DEFAULT_NEGATIVES,
                        help="other orders of each prompt whose gain is penalised (one per step, in turn)")
    parser.add_argument("--budget", type=float, default=0.05, help="conditioning budget (relative L2)")
    parser.add_argument("--keep", type=float, default=1.0)
    parser.add_argument("--heldout-data", default="/work/shared/data/lora_choices_dev.jsonl",
                        help="JSONL of real prompts (read in place, never copied) for the held-out quality prompts; "
                             "the corpus's held-out split when absent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    parser.add_argument("--tokens", type=int, default=20, help="prompt tokens of the speed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of the speed run after one cold run of each loop (median)")
    parser.add_argument("--prompts", type=int, default=50, help="held-out prompts of the quality run")
    parser.add_argument("--cross", type=int, default=5, help="other prompts each LoRA is scored on")
    parser.add_argument("--max-words", type=int, default=24,
                        help="longest real prompt used (a masked score costs tokens^2 per step)")
    parser.add_argument("--calibration-prompts", type=int, default=400)
    parser.add_argument("--train-prompts", type=int, default=80, help="corpus prompts the proposer is trained on")
    parser.add_argument("--proposer-rounds", type=int, default=16, help="meta-learning rounds of proposer training")
    parser.add_argument("--proposer-round-prompts", type=int, default=40, help="corpus prompts per training round")
    parser.add_argument("--proposer-inner-steps", type=int, default=4,
                        help="optimiser steps from each proposal per training round")
    parser.add_argument("--proposer-eval", type=int, default=25, help="held-out prompts of the proposer comparison")
    parser.add_argument("--store", default=None, help="folder for the calibration and proposer (default: temporary)")
    parser.add_argument("--details", default=None, help="write per-prompt results to this JSON file")
    parser.add_argument("--reuse-details", default=None,
                        help="take the quality rows (B = 0 runs) from an earlier --details file instead of re-running")
    parser.add_argument("--verbose", action="store_true")


def run(args) -> dict:
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown --parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    out: dict = {}
    if "speed" in parts:
        from . import t2l_speed

        out.update(t2l_speed.measure(args))
    if "quality" in parts or "proposer" in parts:
        from . import t2l_quality

        if "proposer" not in parts:
            args.train_prompts = 0
        with tempfile.TemporaryDirectory() as tmp:
            args.store = args.store or tmp
            out.update(t2l_quality.measure(args))
    if "conditioning_change_max" in out:
        out["conditioning_change_max_over_budget"] = round(out["conditioning_change_max"] / args.budget, 4)
    return out
