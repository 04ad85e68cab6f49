"""CheckpointExplorer's policy against simulated users, with round-robin, epsilon-greedy, UCB1 and undiscounted
Thompson sampling in the same run.

Users (``bench/explorer_sim.py``): a tier of 3-6 checkpoints whose pick rates per draft differ by 0.02-0.10
from the best one, a per-batch mood that shifts every rate of a batch (noisy users), and for half of the
users a drift (another checkpoint becomes the best somewhere between 1/4 and 3/4 of the rounds). Every
policy sees the same users and the same random numbers. Measured:

- regret after ``--rounds`` rounds over all users, ours over round-robin's and over the best of the
  bandit baselines (epsilon-greedy, UCB1, undiscounted Thompson), with bootstrap CIs, and the same for
  the stationary and the drifting users apart;
- the share of stationary users whose best checkpoint the policy names (posterior-mean argmax) after round
  100, and for drifting users the rounds until the new best is named 5 rounds running (median; censored);
- exposure, through the product: the explorer service plans every batch from the SQLite store
  (``Explorer.plan``), drafts get images, the simulated user's picks and passes are recorded through
  ``Explorer.pick``, and the selection rates are read back from ``Explorer.stats`` (the stats route's
  numbers). The checkpoints have equal pick rates but the policy shows them unequally; the figure is the
  largest gap between their rates, beside the naive picks-per-batch gap;
- prompt categories: 3 categories with different best checkpoints; regret with categories on over off;
- ``GET /checkpoints/stats`` p50/p95 through aiohttp with ``--stats-checkpoints`` checkpoints and
  ``--stats-drafts`` drafts, next to the trivial health route (the HTTP floor on this machine, same run)
  and the naive GROUP BY over all drafts that the trigger-kept counts replace.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from .explorer_sim import (BASELINES, REFERENCES, ContextFree, ContextThompson, Thompson, bernoulli_picks,
                           draw_rates, draw_user, run_context_episode, run_episode)
from ..engines.explorer.policy import RIVAL_OPTIMISM
from .goals import check
from .timing import percentile

# Issue 18: at pick-rate gaps of 0.02-0.10, regret at most half of round-robin's and at most 0.9 of the best
# bandit baseline's; exposure-normalised rates through the policy and the store within 0.03. Issue 5: the
# best named by round 100 for 90% of users, a drift found within 60 rounds (median), stats p95 <= 5 ms.
GOALS = {"regret_ratio_vs_round_robin": ("<=", 0.5), "regret_ratio_vs_best_baseline": ("<=", 0.9),
         "exposure_rate_gap": ("<=", 0.03), "best_by_round_100": (">=", 0.90),
         "drift_recovery_rounds": ("<=", 60), "stats_p95_ms": ("<=", 5.0)}
EXPOSURE_RATE = 0.25  # every checkpoint's pick rate in the exposure check


def add_arguments(parser) -> None:
    parser.add_argument("--seeds", type=int, default=200, help="simulated users of each kind (stationary, drifting)")
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="first user seed (another offset draws other users: the figures' spread across seeds)")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--batch", type=int, default=4, help="drafts per round")
    parser.add_argument("--exposure-seeds", type=int, default=10)
    parser.add_argument("--exposure-rounds", type=int, default=400)
    parser.add_argument("--context-seeds", type=int, default=50)
    parser.add_argument("--stats-checkpoints", type=int, default=100)
    parser.add_argument("--stats-drafts", type=int, default=20000)
    parser.add_argument("--stats-requests", type=int, default=200)


def _policies(args, config) -> dict[str, dict[str, list]]:
    """Regret (and identification / recovery) of every policy on the same stationary and drifting users."""
    results: dict[str, dict[str, list]] = {}
    for drifting in (False, True):
        for seed in range(args.seed_offset, args.seed_offset + args.seeds):
            user = draw_user(np.random.default_rng(seed + (500_000 if drifting else 0)), args.rounds, drifting)
            arms = len(user.rates)
            for make in (Thompson, *REFERENCES):
                agent = make(arms, config, np.random.default_rng(arms))
                outcome = run_episode(agent, user, args.rounds, args.batch, np.random.default_rng(10_000 + seed))
                store = results.setdefault(agent.name, {"regret": [], "drift_regret": [], "identified": [],
                                                        "recovery": []})
                store["drift_regret" if drifting else "regret"].append(outcome["regret"])
                store["recovery" if drifting else "identified"].append(
                    outcome["recovery"] if drifting else outcome["identified"])
    return results


def _ratio_ci(ours: list[float], reference: list[float], resamples: int = 1000) -> list[float]:
    rng, n = random.Random(0), len(ours)
    ratios = []
    for _ in range(resamples):
        pick = [rng.randrange(n) for _ in range(n)]
        ratios.append(sum(ours[i] for i in pick) / sum(reference[i] for i in pick))
    ratios.sort()
    return [round(ratios[int(0.025 * resamples)], 3), round(ratios[int(0.975 * resamples)], 3)]


def _exposure(args) -> dict:
    """Equal pick rates, unequal exposure chosen by the policy: through the explorer service and its store."""
    from ..engines.explorer.planner import PlanRequest
    from ..engines.lab import Lab
    from ..engines.store import generations as g

    names = ["ckpt_a.safetensors", "ckpt_b.safetensors"]  # an Explore batch shows both, in unequal numbers
    gaps, naive, shares = [], [], []
    for seed in range(args.exposure_seeds):
        rng = np.random.default_rng(50_000 + seed)
        with tempfile.TemporaryDirectory() as tmp:
            lab = Lab(data_dir=Path(tmp), checkpoint_names=lambda: names)
            explorer = lab.explorer
            explorer.set_pools({"tiers": {"all": {"checkpoints": names}}})
            batch_picks = np.zeros(len(names))
            for round_index in range(args.exposure_rounds):
                plan = explorer.plan(PlanRequest("all", args.batch, mode="explore", seed=round_index))
                ids = explorer.record_images(plan.batch_id, [
                    g.DraftImage(d.index, d.checkpoint, g.ImageRef(f"{round_index}_{d.index}.png")) for d in plan.drafts])
                chosen = bernoulli_picks(np.full(len(ids), EXPOSURE_RATE), np.ones(len(ids)), 0.0, rng) > 0
                picked = [i for i, hit in zip(ids, chosen) if hit]
                if picked:
                    explorer.pick(picked, True)
                    for draft, hit in zip(plan.drafts, chosen):
                        batch_picks[names.index(draft.checkpoint)] += hit
                passed = [i for i, hit in zip(ids, chosen) if not hit]
                if passed:
                    explorer.pick(passed, False)
            stats = explorer.stats("all")
        rates = [stats[name]["selection_rate"] for name in names]
        totals = np.array([stats[name]["total"] for name in names], dtype=float)
        gaps.append(max(rates) - min(rates))
        naive.append(float(batch_picks.max() - batch_picks.min()) / args.exposure_rounds)
        shares.append(float(totals.max() / totals.sum()))
    return {"exposure_rate_gap": round(statistics.mean(gaps), 4),
            "exposure_rate_gap_p95": round(percentile(gaps, 95), 4),
            "exposure_naive_per_batch_gap": round(statistics.mean(naive), 4),
            "exposure_largest_share": round(statistics.mean(shares), 3)}


def _context(args, config) -> dict:
    totals = {"on": 0.0, "off": 0.0}
    for seed in range(args.context_seeds):
        env = np.random.default_rng(90_000 + seed)
        arms = int(env.integers(3, 7))
        rates = [draw_rates(env, arms) for _ in range(3)]
        for key, agent in (("on", ContextThompson(arms, config, 3)), ("off", ContextFree(arms, config))):
            totals[key] += run_context_episode(agent, rates, args.rounds, args.batch,
                                               np.random.default_rng(95_000 + seed))
    return {"context_regret_ratio": round(totals["on"] / totals["off"], 3)}


def _stats_timing(args) -> dict:
    from ..engines.store import generation_queries as queries
    from ..engines.store import generations as g
    from ..engines.lab import Lab
    from ..server_routes.app import build_app

    with tempfile.TemporaryDirectory() as tmp:
        names = [f"ckpt_{i:03d}.safetensors" for i in range(args.stats_checkpoints)]
        services = Lab(data_dir=Path(tmp), checkpoint_names=lambda: names)
        services.explorer.set_pools({"tiers": {"all": {"checkpoints": names}}})
        _fill(services.database, names, args.stats_drafts, g)
        route, floor = asyncio.run(_time_routes(build_app(services), args.stats_requests))
        naive_samples, naive = _time_naive(services.database, args.stats_requests)
        expected = {k: v.to_dict() for k, v in queries.checkpoint_counts(services.database).items()}
        if naive != expected:
            raise RuntimeError("the trigger-kept counts disagree with the rows")
    return {"stats_p50_ms": round(percentile(route, 50) * 1000, 3),
            "stats_p95_ms": round(percentile(route, 95) * 1000, 3),
            "health_route_p95_ms": round(percentile(floor, 95) * 1000, 3),
            "stats_naive_query_p95_ms": round(percentile(naive_samples, 95) * 1000, 3)}


def _fill(db, names, drafts, g) -> None:
    rng, per_batch = random.Random(1), 40
    for b in range(drafts // per_batch):
        plan = tuple(g.DraftPlan(i, rng.choice(names)) for i in range(per_batch))
        g.record_batch(db, g.BatchRecord(f"b{b}", "explore", plan, tier="all"))
        ids = g.record_images(db, f"b{b}", [g.DraftImage(d.index, d.checkpoint, g.ImageRef(f"{b}_{d.index}.png"))
                                            for d in plan])
        g.record_picks(db, rng.sample(ids, 3), True)


async def _time_routes(app, requests: int) -> tuple[list[float], list[float]]:
    """Latency of the stats route and, as the same-run reference, of the trivial health route."""
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app)) as client:
        samples: dict[str, list[float]] = {"/api/checkpoints/stats": [], "/api/lora_lab/health": []}
        for index in range(requests + 5):
            for path, out in samples.items():
                start = time.perf_counter()
                response = await client.get(path)
                await response.json()
                if index >= 5:
                    out.append(time.perf_counter() - start)
    return samples["/api/checkpoints/stats"], samples["/api/lora_lab/health"]


def _time_naive(db, requests: int) -> tuple[list[float], dict]:
    """The same numbers by a GROUP BY over every draft (what the aggregate avoids)."""
    sql = ("SELECT d.checkpoint, COUNT(*) AS total, COALESCE(SUM(p.selected), 0) AS selected FROM drafts d "
           "LEFT JOIN picks p ON p.draft_id = d.id WHERE d.image_filename != '' GROUP BY d.checkpoint")
    samples, rows = [], []
    for index in range(requests + 5):
        start = time.perf_counter()
        rows = db.read(sql)
        if index >= 5:
            samples.append(time.perf_counter() - start)
    return samples, {r["checkpoint"]: {"selected": r["selected"], "total": r["total"],
                              "selection_rate": round(r["selected"] / r["total"], 4) if r["total"] else 0.0}
                     for r in rows}


def _summary(runs: dict, key: str, reference: str) -> float:
    return round(sum(runs["ours"][key]) / sum(runs[reference][key]), 3)


def _regret_figures(runs: dict) -> dict:
    """Ours over round-robin and over the best bandit baseline: all users, stationary and drifting apart."""
    for r in runs.values():
        r["all"] = r["regret"] + r["drift_regret"]
    best = min(BASELINES, key=lambda name: sum(runs[name]["all"]))
    out = {"regret_ratio_vs_round_robin": _summary(runs, "all", "round_robin"),
           "regret_ratio_vs_round_robin_ci95": _ratio_ci(runs["ours"]["all"], runs["round_robin"]["all"]),
           "regret_ratio_vs_best_baseline": _summary(runs, "all", best),
           "regret_ratio_vs_best_baseline_ci95": _ratio_ci(runs["ours"]["all"], runs[best]["all"]),
           "best_baseline": best}
    for key, label in (("regret", "stationary"), ("drift_regret", "drifting")):
        out[f"{label}_regret_ratio_vs_round_robin"] = _summary(runs, key, "round_robin")
        out[f"{label}_regret_ratio_vs_round_robin_ci95"] = _ratio_ci(runs["ours"][key], runs["round_robin"][key])
        out[f"{label}_regret_ratio_vs_best_baseline"] = round(
            sum(runs["ours"][key]) / min(sum(runs[name][key]) for name in BASELINES), 3)
    return out


def run(args) -> dict:
    from ..engines.explorer.config import PolicyConfig

    config, start = PolicyConfig(), time.perf_counter()
    runs = _policies(args, config)
    rr = runs["round_robin"]
    result = {
        "seeds": args.seeds, "seed_offset": args.seed_offset, "rounds": args.rounds, "batch": args.batch,
        "discount": config.discount, "rival_optimism": RIVAL_OPTIMISM,
        **_regret_figures(runs),
        "best_by_round_100": round(statistics.mean(runs["ours"]["identified"]), 3),
        "drift_recovery_rounds": statistics.median(runs["ours"]["recovery"]),
        "drift_recovered_within_60": round(statistics.mean(r <= 60 for r in runs["ours"]["recovery"]), 3),
        "policies": {name: {"regret_mean": round(statistics.mean(r["all"]), 1),
                            "regret_ratio_vs_round_robin": round(sum(r["all"]) / sum(rr["all"]), 3),
                            "stationary_regret_mean": round(statistics.mean(r["regret"]), 1),
                            "drifting_regret_mean": round(statistics.mean(r["drift_regret"]), 1),
                            "best_by_round_100": round(statistics.mean(r["identified"]), 3),
                            "drift_recovery_rounds": statistics.median(r["recovery"])} for name, r in runs.items()},
    }
    result.update(_exposure(args))
    result.update(_context(args, config))
    result.update(_stats_timing(args))
    result["goals"] = check(GOALS, result)
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result
