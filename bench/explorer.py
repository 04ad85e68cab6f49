"""CheckpointExplorer's policy against simulated users, with round-robin, epsilon-greedy and UCB1 in the same run.

Each seed draws a tier of 3-6 checkpoints with hidden utilities (standard normal, the best at least
``--min-gap`` above the runner-up) and a user who picks one draft per batch of ``--batch`` by
Plackett-Luce. Every policy sees the same users (common random numbers). Measured:

- regret after ``--rounds`` rounds, ours over round-robin's (ratio of the sums over seeds, bootstrap CI);
- the share of seeds whose best checkpoint the policy names (posterior-mean argmax) after round 100;
- drift: at round ``rounds/2`` a random other checkpoint becomes the best; rounds until the policy names
  it for 5 consecutive rounds (median; censored at the end);
- exposure bias: equal utilities shown 3 vs 1 drafts per batch for ``--exposure-rounds`` rounds; the gap
  between the two selection rates (``selected / total``, the stats route's formula) against a naive
  per-batch count;
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

from .explorer_sim import (REFERENCES, ContextFree, ContextThompson, Thompson, draw_utilities, plackett_luce_picks,
                           run_context_episode, run_episode)
from .timing import percentile

GOALS = {"regret_ratio_vs_round_robin": ("<=", 0.40), "best_by_round_100": (">=", 0.90),
         "exposure_rate_gap": ("<=", 0.03), "drift_recovery_rounds": ("<=", 60), "stats_p95_ms": ("<=", 5.0)}


def add_arguments(parser) -> None:
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--batch", type=int, default=4, help="drafts per round")
    parser.add_argument("--min-gap", type=float, default=0.5, help="utility lead of the best checkpoint")
    parser.add_argument("--exposure-rounds", type=int, default=2000)
    parser.add_argument("--context-seeds", type=int, default=50)
    parser.add_argument("--stats-checkpoints", type=int, default=100)
    parser.add_argument("--stats-drafts", type=int, default=20000)
    parser.add_argument("--stats-requests", type=int, default=200)


def _agents(arms: int, config) -> list:
    return [Thompson(arms, config)] + [reference(arms, np.random.default_rng(arms)) for reference in REFERENCES]


def _policies(args, config) -> dict[str, dict[str, list]]:
    """Stationary and drifting runs of every policy on the same seeds."""
    results: dict[str, dict[str, list]] = {}
    half = args.rounds // 2
    for seed in range(args.seeds):
        env = np.random.default_rng(seed)
        arms = int(env.integers(3, 7))
        utilities = draw_utilities(env, arms, args.min_gap)
        shifted = utilities.copy()
        newcomer = int(env.choice([i for i in range(arms) if i != int(np.argmax(utilities))]))
        shifted[newcomer] = utilities.max() + env.uniform(args.min_gap, 2 * args.min_gap)
        for agent, drifting in zip(_agents(arms, config) + _agents(arms, config), [False] * 4 + [True] * 4):
            outcome = run_episode(agent, utilities, args.rounds, args.batch, np.random.default_rng(10_000 + seed),
                                  drift=(half, shifted) if drifting else None)
            store = results.setdefault(agent.name, {key: [] for key in ("regret", "identified", "drift_regret",
                                                                        "recovery")})
            if drifting:
                store["drift_regret"].append(outcome["regret"])
                store["recovery"].append(outcome["recovery"])
            else:
                store["regret"].append(outcome["regret"])
                store["identified"].append(outcome["identified"])
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
    """Equal utilities, 3 vs 1 drafts: selection rates per draft shown agree, per-batch counts do not."""
    from ..engines.store.generation_queries import CheckpointCount

    gaps, naive = [], []
    for seed in range(args.seeds):
        rng = np.random.default_rng(50_000 + seed)
        counts, picks = np.array([3.0, 1.0]), np.zeros(2)
        for _ in range(args.exposure_rounds):
            picks += plackett_luce_picks(np.zeros(2), counts, 1, rng)
        rates = [CheckpointCount(int(p), int(c * args.exposure_rounds)).selection_rate for p, c in zip(picks, counts)]
        gaps.append(abs(rates[0] - rates[1]))
        naive.append(abs(picks[0] - picks[1]) / args.exposure_rounds)
    return {"exposure_rate_gap": round(statistics.mean(gaps), 4),
            "exposure_rate_gap_p95": round(percentile(gaps, 95), 4),
            "exposure_naive_per_batch_gap": round(statistics.mean(naive), 4)}


def _context(args, config) -> dict:
    totals = {"on": 0.0, "off": 0.0}
    for seed in range(args.context_seeds):
        env = np.random.default_rng(90_000 + seed)
        arms = int(env.integers(3, 7))
        utilities = [draw_utilities(env, arms, args.min_gap) for _ in range(3)]
        for key, agent in (("on", ContextThompson(arms, config, 3)), ("off", ContextFree(arms, config))):
            totals[key] += run_context_episode(agent, utilities, args.rounds, args.batch,
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


def _goals(result: dict) -> dict:
    checks = {}
    for key, (op, target) in GOALS.items():
        value = result[key]
        checks[key] = {"target": f"{op} {target}", "met": value <= target if op == "<=" else value >= target}
    return checks


def run(args) -> dict:
    from ..engines.explorer.config import PolicyConfig

    config, start = PolicyConfig(), time.perf_counter()
    runs = _policies(args, config)
    rr = runs["round_robin"]["regret"]
    result = {
        "seeds": args.seeds, "rounds": args.rounds, "batch": args.batch, "discount": config.discount,
        "regret_ratio_vs_round_robin": round(sum(runs["thompson"]["regret"]) / sum(rr), 3),
        "regret_ratio_ci95": _ratio_ci(runs["thompson"]["regret"], rr),
        "best_by_round_100": round(statistics.mean(runs["thompson"]["identified"]), 3),
        "drift_recovery_rounds": statistics.median(runs["thompson"]["recovery"]),
        "drift_recovered_within_60": round(statistics.mean(r <= 60 for r in runs["thompson"]["recovery"]), 3),
        "policies": {name: {"regret_mean": round(statistics.mean(r["regret"]), 1),
                            "regret_ratio_vs_round_robin": round(sum(r["regret"]) / sum(rr), 3),
                            "best_by_round_100": round(statistics.mean(r["identified"]), 3),
                            "drift_regret_mean": round(statistics.mean(r["drift_regret"]), 1),
                            "drift_recovery_rounds": statistics.median(r["recovery"])} for name, r in runs.items()},
    }
    result.update(_exposure(args))
    result.update(_context(args, config))
    result.update(_stats_timing(args))
    result["goals"] = _goals(result)
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result
