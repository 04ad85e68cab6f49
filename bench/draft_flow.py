"""The Draft flow (Explore x Auto-LoRA per checkpoint group) against simulated users who prefer one pair.

Each simulated user has a tier of ``--checkpoints`` checkpoints and ``--loras`` discovered LoRAs. A draft's
chance to be picked is the checkpoint's base rate plus the combination's lift (both drawn at random, small)
except for one preferred (checkpoint, single LoRA) pair, picked with probability ``--preferred-rate``:
the user who likes anime_style_v2, but only on beenyouLite. Every batch of ``--batch`` drafts is spread
over the checkpoints by the product's explorer policy (``policy.explore`` on the exposure-normalised
checkpoint arms) and each checkpoint group gets a distinct combination from
:func:`engines.explorer.draft_groups.assign`; the user picks each draft with its probability and both
tables learn from the batch. Two learners run on the same users (common random numbers):

- ``pair``: the product, evidence per (checkpoint, combination) with a factor-centred prior;
- ``per_factor``: the baseline, a combination's evidence pooled over every checkpoint.

Regret is expected picks lost per draft, ``max p - p(draft's pair)``, summed over batches, over the same
sum for uniform assignment (every draft a uniformly random pair). ``best_pair_share_by_batch_50``: share
of the drafts of batch 50 (mean over users) that are the preferred pair.
"""

from __future__ import annotations

import numpy as np

from ..engines.explorer import policy
from ..engines.explorer.arms import ArmTable
from ..engines.explorer.config import PolicyConfig
from ..engines.explorer.draft_groups import DraftOutcome, PairTable, assign, options_for

GOALS = {"pair_regret_ratio_vs_uniform": ("<=", 0.5), "best_pair_share_by_batch_50": (">=", 0.6)}
LEARNERS = ("pair", "per_factor")


def add_arguments(parser) -> None:
    parser.add_argument("--users", type=int, default=40, help="simulated users (each its own tier and taste)")
    parser.add_argument("--batches", type=int, default=100, help="batches per user")
    parser.add_argument("--batch", type=int, default=20, help="drafts per batch")
    parser.add_argument("--checkpoints", type=int, default=3)
    parser.add_argument("--loras", type=int, default=3, help="LoRAs discovery finds for the prompt")
    parser.add_argument("--preferred-rate", type=float, default=0.6,
                        help="pick probability of a draft of the preferred (checkpoint, LoRA) pair")
    parser.add_argument("--seed", type=int, default=0)


def draw_user(rng: np.random.Generator, checkpoints: int, options: int, preferred_rate: float) -> np.ndarray:
    """Pick probability per (checkpoint, option); the last option is the no-LoRA control (no lift)."""
    base = rng.uniform(0.1, 0.3, checkpoints)
    lift = np.append(rng.uniform(-0.05, 0.1, options - 1), 0.0)
    rates = np.clip(base[:, None] + lift[None, :], 0.01, 0.95)
    singles = options - 2 if options > 2 else options - 1  # the options that are one LoRA alone
    rates[rng.integers(checkpoints), rng.integers(singles)] = preferred_rate
    return rates


def run_user(rates: np.ndarray, learner: str, args, seed: int) -> tuple[float, float]:
    """(regret summed over batches, preferred-pair share of batch 50) of one learner on one user."""
    rng = np.random.default_rng(seed)
    config = PolicyConfig()
    names = [f"ckpt{i}" for i in range(rates.shape[0])]
    options = options_for([f"lora{j}" for j in range(args.loras)])
    arms, pairs = ArmTable(names), PairTable()
    best = float(rates.max())
    preferred = np.unravel_index(int(np.argmax(rates)), rates.shape)
    regret, share_50 = 0.0, float("nan")
    for batch in range(args.batches):
        counts = np.array(policy.explore(arms, args.batch, config).counts)
        order = sorted(np.flatnonzero(counts), key=lambda i: (-counts[i], i))
        groups = [(names[i], int(counts[i])) for i in order]
        combos = assign(groups, options, pairs, rng, per_factor=learner == "per_factor")
        outcomes, picks = [], np.zeros(len(names))
        hits = 0
        for (name, size), combo in zip(groups, combos):
            i, j = names.index(name), options.index(combo)
            regret += size * (best - rates[i, j])
            hits += size if (i, j) == preferred else 0
            picked = rng.random(size) < rates[i, j]
            picks[i] += picked.sum()
            outcomes += [DraftOutcome(name, combo, bool(p)) for p in picked]
        if batch == 49:
            share_50 = hits / args.batch
        arms.observe_arrays(counts, counts, picks, int(np.count_nonzero(counts)) >= 2, config.discount)
        pairs.observe(outcomes, config.discount)
    return regret, share_50


def run(args) -> dict:
    if args.batches < 50:
        raise ValueError(f"--batches must be at least 50 (the share is read at batch 50), got {args.batches}")
    options = len(options_for([f"lora{j}" for j in range(args.loras)]))
    users = [draw_user(np.random.default_rng([args.seed, u]), args.checkpoints, options, args.preferred_rate)
             for u in range(args.users)]
    uniform = sum(float(r.max() - r.mean()) * args.batch * args.batches for r in users)
    result: dict = {"users": args.users, "batches": args.batches, "batch": args.batch,
                    "checkpoints": args.checkpoints, "options_per_group": options,
                    "uniform_regret_per_draft": round(uniform / (args.users * args.batches * args.batch), 4)}
    for learner in LEARNERS:
        runs = [run_user(rates, learner, args, seed=args.seed * 100_003 + u) for u, rates in enumerate(users)]
        regret = sum(r for r, _ in runs)
        share_key = "best_pair_share_by_batch_50" if learner == "pair" else f"{learner}_best_pair_share_by_batch_50"
        result[f"{learner}_regret_ratio_vs_uniform"] = round(regret / uniform, 4)
        result[share_key] = round(float(np.mean([s for _, s in runs])), 4)
    return result
