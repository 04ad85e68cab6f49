"""An honest held-out split for the refiner's evaluation: unseen domains, personas and phrasings, and a
pre-training corpus with no held-out target sentence and no near-copy of a held-out target.

A random split of phrasebook pairs holds out pairs, not what makes them: the same domains, personas and
phrasings (and often the same "Task" line) are in training, so held-out scores measure copying inside one
closed template world. Here the held-out pairs come from a disjoint part of the phrasebook: one work and
one life domain nobody trains on, one persona of every other domain, and a quarter of the phrasings; every
held-out pair uses a held-out phrasing and a held-out domain or persona. The pre-training documents come
from the training part only; any document that contains a sentence of a held-out target, or whose words
overlap a held-out target by more than ``MAX_OVERLAP`` (Jaccard), is removed, and what is left is measured
(:func:`max_overlap`) and reported beside the scores.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from .data import DataConfig, PairSet, World, generate_pairs, pair_stats
from .domain_tables import LIFE_DOMAINS, WORK_DOMAINS
from .phrasebook import PHRASINGS

MAX_OVERLAP = 0.5
PHRASING_SHARE = 0.25
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class HoldOut:
    """What the held-out pairs use and training never sees."""

    domains: tuple[str, ...]
    personas: tuple[str, ...]
    phrasings: tuple[str, ...]
    train_world: World
    test_world: World

    def to_dict(self) -> dict:
        return {"domains": list(self.domains), "personas": list(self.personas), "phrasings": len(self.phrasings)}


def choose_hold_out(seed: int) -> HoldOut:
    """One work and one life domain, one persona of each other domain (with two or more), a quarter of phrasings."""
    rng = random.Random(f"heldout-{seed}")
    held_domains = {rng.choice(WORK_DOMAINS).name, rng.choice(LIFE_DOMAINS).name}
    phrasings = list(PHRASINGS)
    rng.shuffle(phrasings)
    cut = max(2, round(len(phrasings) * PHRASING_SHARE))
    held_phrasings, kept_phrasings = tuple(phrasings[:cut]), tuple(phrasings[cut:])
    train, test, personas = [], [], []
    for domain in WORK_DOMAINS + LIFE_DOMAINS:
        if domain.name in held_domains:
            test.append(domain)
            continue
        persona = rng.choice(domain.personas) if len(domain.personas) > 1 else None
        kept = tuple(p for p in domain.personas if p != persona)
        train.append(replace(domain, personas=kept))
        if persona is not None:
            personas.append(persona)
            test.append(replace(domain, personas=(persona,)))
    return HoldOut(tuple(sorted(held_domains)), tuple(personas), held_phrasings,
                   World(tuple(train), kept_phrasings), World(tuple(test), held_phrasings))


def honest_split(n: int, held_out: int, seed: int) -> tuple[PairSet, HoldOut]:
    """``n - held_out`` training pairs from the training world and ``held_out`` pairs from the held-out one."""
    hold = choose_hold_out(seed)
    made = generate_pairs(DataConfig(n=n - held_out, seed=seed, held_out=1), hold.train_world)
    tested = generate_pairs(DataConfig(n=max(10, held_out + 1), seed=seed + 7919, held_out=1), hold.test_world)
    train, test = made.train + made.held_out, (tested.train + tested.held_out)[:held_out]
    return PairSet(train, test, seed, pair_stats(train + test)), hold


def training_world_documents(hold: HoldOut, count: int, seed: int) -> list[str]:
    """Unlabeled pre-training documents (vague and structured texts apart) from the training world only."""
    if count < 2:
        return []
    extra = generate_pairs(DataConfig(n=count // 2, seed=seed, held_out=1), hold.train_world)
    pairs = extra.train + extra.held_out
    return [p.vague for p in pairs] + [p.structured for p in pairs]


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def sentences(text: str) -> list[str]:
    return [" ".join(s.lower().split()) for s in _SENTENCE.split(text) if len(s.split()) >= 3]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def without_held_out(documents: list[str], held_out: PairSet | list, limit: float = MAX_OVERLAP) -> list[str]:
    """``documents`` minus any that contains a held-out target sentence or overlaps a held-out target by more
    than ``limit`` (word Jaccard)."""
    pairs = held_out.held_out if isinstance(held_out, PairSet) else held_out
    banned = {s for p in pairs for s in sentences(p.structured)}
    targets = [words(p.structured) for p in pairs]
    kept = []
    for text in documents:
        normal = " ".join(text.lower().split())
        if any(sentence in normal for sentence in banned):
            continue
        bag = words(text)
        if all(jaccard(bag, target) <= limit for target in targets):
            kept.append(text)
    return kept


def max_overlap(held_out_pairs: list, documents: list[str]) -> float:
    """The largest word Jaccard between a held-out target and any pre-training document."""
    bags = [words(text) for text in documents]
    return round(max((jaccard(words(p.structured), bag) for p in held_out_pairs for bag in bags), default=0.0), 4)
