"""Simulated users who pick drafts: does learning from picks find each user's preferred LoRAs without
lowering held-out relevance?

Each user prefers one LoRA in every group of same-concept, same-family LoRAs (the shared-trigger case).
A round: a training prompt of such a group, a batch of 4 variations from discovery (written to the
generation store as a batch with drafts), and one pick drawn Plackett-Luce over the drafts (utility 1.0
for the preferred version, 0.3 for another version of the group, 0.5 for other LoRAs). We report how
often the preferred version is picked on the training prompts before and after, and recall@3 on the
held-out prompts (every other concept prompt) before and after.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import defaultdict
from pathlib import Path

from ..engines.discovery import DiscoverOptions, run_discovery
from ..engines.discovery.feedback import Learner
from ..engines.store import Database
from .discovery_pool import EvalPrompt, PoolLora
from .discovery_quality import evaluate

BATCH = 4
BETA = 4.0


def _groups(by_name: dict[str, PoolLora]) -> dict[tuple[str, str], list[str]]:
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, lora in by_name.items():
        groups[(lora.concept, lora.family)].append(name)
    return {key: sorted(names) for key, names in groups.items() if len(names) > 1}


def _utility(names: list[str], by_name: dict[str, PoolLora], preferred: dict[tuple[str, str], str]) -> float:
    total = 0.0
    for name in names:
        lora = by_name.get(name)
        key = (lora.concept, lora.family) if lora else None
        total += 0.5 if key not in preferred else (1.0 if preferred[key] == name else 0.3)
    return total / max(1, len(names))


def _record(database: Database, prompt: str, variants: list[list[str]], chosen: int) -> None:
    batch = f"b{time.perf_counter_ns()}"
    with database.transaction() as conn:
        conn.execute("INSERT INTO batches(id, prompt, mode, created) VALUES (?, ?, 'explore', ?)", (batch, prompt, time.time()))
        for index, names in enumerate(variants):
            loras = json.dumps([{"name": name, "strength": 0.7} for name in names])
            conn.execute("INSERT INTO drafts(id, batch_id, idx, checkpoint, loras, image_filename) "
                         "VALUES (?, ?, ?, 'sim.safetensors', ?, ?)", (f"{batch}-{index}", batch, index, loras, f"{batch}-{index}.png"))
            conn.execute("INSERT INTO picks(draft_id, selected, picked_at) VALUES (?, ?, ?)",
                         (f"{batch}-{index}", int(index == chosen), time.time()))


def _preferred_rate(index, prompts: list[EvalPrompt], preferred: dict, learner: Learner | None) -> float:
    hits = total = 0
    affinity = learner.current() if learner else None
    for prompt in prompts:
        result = run_discovery(index, prompt.prompt, DiscoverOptions(family=prompt.family), affinity)
        names = {pick.name for pick in result.picks}
        for key, name in preferred.items():
            if key[1] == prompt.family and key[0] in prompt.targets:
                total += 1
                hits += name in names
    return hits / max(1, total)


def simulate(index, prompts: list[EvalPrompt], by_name: dict[str, PoolLora], workdir: Path, users: int,
             rounds: int, seed: int = 0) -> dict:
    """Average over ``users`` of preferred-version hit rate and held-out recall@3, before and after ``rounds`` picks."""
    groups = _groups(by_name)
    concept_prompts = [p for p in prompts if p.kind == "concept"]
    train = [p for p in concept_prompts if any((c, p.family) in groups for c in p.targets)]
    held_out = [p for p in concept_prompts if p not in train]
    rng = random.Random(seed)
    totals = defaultdict(float)
    for user in range(users):
        preferred = {key: rng.choice(names) for key, names in groups.items()}
        database = Database(workdir / f"user_{user}.sqlite")
        learner = Learner(database)
        totals["preferred_before"] += _preferred_rate(index, train, preferred, None)
        totals["heldout_before"] += evaluate(_ranker(index, None), held_out, by_name).recall_at_3
        for round_index in range(rounds):
            prompt = rng.choice(train)
            result = run_discovery(index, prompt.prompt, DiscoverOptions(family=prompt.family, variations=BATCH,
                                                                        seed=rng.randrange(2**31)), learner.current())
            variants = [[pick.name for pick in variant.picks] for variant in result.variants]
            weights = [math.exp(BETA * _utility(names, by_name, preferred)) for names in variants]
            _record(database, prompt.prompt, variants, rng.choices(range(len(variants)), weights=weights)[0])
        totals["preferred_after"] += _preferred_rate(index, train, preferred, learner)
        totals["heldout_after"] += evaluate(_ranker(index, learner), held_out, by_name).recall_at_3
    result = {key: round(value / users, 4) for key, value in totals.items()}
    result.update(users=users, picks_per_user=rounds, groups=len(groups), train_prompts=len(train),
                  heldout_prompts=len(held_out))
    return result


def _ranker(index, learner: Learner | None):
    affinity = learner.current() if learner else None

    def rank(prompt: EvalPrompt) -> list[str]:
        result = run_discovery(index, prompt.prompt, DiscoverOptions(family=prompt.family), affinity)
        return [pick.name for pick in result.picks]

    return rank
