"""Seeded synthetic vague -> structured pairs, a held-out split, and the JSON file they live in.

The same ``DataConfig`` always gives the same file (``random.Random(seed)``, no other randomness). Domains are
drawn in shuffled rounds so each is equally represented; every pair is checked before it is kept: its
rewrite parses into the six sections and contains every content word of the vague prompt.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import string
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .domain_tables import LIFE_DOMAINS, WORK_DOMAINS
from .files import write_json_atomic
from .phrasebook import DETAIL_KINDS, GENERAL_CONSTRAINTS, NUMBERS, PHRASINGS, Domain
from .pools import POOLS
from .structure import StructuredPrompt, missing_content_words, parse_structured, words

DOMAINS: tuple[Domain, ...] = WORK_DOMAINS + LIFE_DOMAINS
FILE_FORMAT = "lora_lab.refiner_pairs"
MAX_DATA_BYTES = 64 * 1024 * 1024
MAX_TEXT_CHARS = 4000


@dataclass(frozen=True)
class DataConfig:
    """How many pairs to make, from which seed, and how many to hold out for evaluation."""

    n: int = 500
    seed: int = 0
    held_out: int = 50

    def __post_init__(self) -> None:
        if not 10 <= self.n <= 20000:
            raise ValueError(f"n must be between 10 and 20000 pairs, got {self.n}")
        if not 1 <= self.held_out < self.n:
            raise ValueError(f"held_out must be at least 1 and less than n ({self.n}), got {self.held_out}")


@dataclass(frozen=True)
class Pair:
    vague: str
    structured: str
    domain: str = ""
    details: tuple[str, ...] = ()


@dataclass
class PairSet:
    """Training and held-out pairs plus where they came from (``seed`` is None for a user's own file)."""

    train: list[Pair]
    held_out: list[Pair]
    seed: int | None = None
    stats: dict = field(default_factory=dict)

    def sha256(self) -> str:
        """Hash of the pairs' text only, so the same pairs give the same hash whatever the file layout."""
        canonical = [[p.vague, p.structured] for p in self.train] + [["held_out"]]
        canonical += [[p.vague, p.structured] for p in self.held_out]
        return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class World:
    """The part of the phrasebook pairs are made from: domains (each with the personas it may use) and the
    phrasings of the vague prompt. The default is all of it; ``heldout.honest_split`` makes disjoint ones."""

    domains: tuple[Domain, ...] = DOMAINS
    phrasings: tuple[str, ...] = PHRASINGS


def generate_pairs(config: DataConfig, world: World = World()) -> PairSet:
    rng = random.Random(config.seed)
    pairs, seen, attempts = [], set(), 0
    while len(pairs) < config.n:
        attempts += 1
        if attempts > config.n * 50:
            raise RuntimeError(f"could only make {len(pairs)} distinct pairs; the phrasebook is too small for n={config.n}")
        order = list(world.domains)
        rng.shuffle(order)
        for domain in order:
            pair = _make_pair(rng, domain, world.phrasings)
            if pair.vague.lower() not in seen and len(pairs) < config.n:
                seen.add(pair.vague.lower())
                pairs.append(pair)
    rng.shuffle(pairs)
    train, held_out = pairs[:-config.held_out], pairs[-config.held_out:]
    return PairSet(train, held_out, config.seed, pair_stats(train + held_out))


def _make_pair(rng: random.Random, domain: Domain, phrasings: tuple[str, ...] = PHRASINGS) -> Pair:
    task = rng.choice(domain.tasks)
    phrasing = rng.choice(phrasings)
    topic = _fill(rng.choice(task.topics), rng) if "{topic}" in phrasing else ""
    details = _pick_details(rng, domain)
    said = ", ".join(phrase for _, phrase, _ in details)
    vague = phrasing.format(verb=task.verb, Verb=task.verb.capitalize(), obj=task.obj, a_obj=task.with_article(),
                            topic=f"{topic} {said}" if "{topic}" in phrasing else topic)
    vague = " ".join(vague.replace(" ?", "?").replace(" ,", ",").replace(" .", ".").split())
    if said and "{topic}" not in phrasing:
        vague = vague.rstrip(".?") + " " + said
    vague = _vary_case(rng, vague)
    constraints = [bullet for _, _, bullet in details]
    constraints += rng.sample(domain.constraints, rng.randint(max(0, 2 - len(constraints)), 3))
    if rng.random() < 0.3:
        constraints.append(rng.choice(GENERAL_CONSTRAINTS))
    step_count = rng.randint(3, min(5, len(domain.steps)))
    steps = [domain.steps[i] for i in sorted(rng.sample(range(len(domain.steps)), step_count))]
    persona = rng.choice(domain.personas)
    structured = StructuredPrompt(
        persona=("an " if persona[0] in "aeiouAEIOU" else "a ") + persona,
        context=rng.choice(domain.contexts),
        task=f"{task.verb.capitalize()} {task.with_article()}{' ' + topic if topic else ''}.",
        constraints=tuple(constraints[:5]),
        steps=tuple(step.format(obj=task.obj) for step in steps),
        goal=rng.choice(domain.goals).format(obj=task.obj),
    ).render()
    pair = Pair(vague, structured, domain.name, tuple(kind for kind, _, _ in details))
    _check_pair(pair)
    return pair


def _fill(template: str, rng: random.Random) -> str:
    """A topic template with each ``{pool}`` slot replaced by a random member of that pool."""
    slots = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    return template.format(**{name: rng.choice(POOLS[name]) for name in slots})


def _pick_details(rng: random.Random, domain: Domain) -> list[tuple[str, str, str]]:
    """0-2 (kind, phrase, constraint) details of different kinds, numbers filled in."""
    pool = [("domain", phrase, bullet) for phrase, bullet in domain.details]
    pool += [(kind, phrase, bullet) for kind in domain.detail_kinds for phrase, bullet in DETAIL_KINDS[kind]]
    count = rng.choices((0, 1, 2), weights=(45, 40, 15))[0]
    picked, kinds = [], set()
    for kind, phrase, bullet in rng.sample(pool, len(pool)):
        if len(picked) < count and kind not in kinds:
            number = rng.choice(NUMBERS)
            picked.append((kind, phrase.format(n=number), bullet.format(n=number)))
            kinds.add(kind)
    return picked


def _vary_case(rng: random.Random, text: str) -> str:
    style = rng.choice(("as is", "as is", "capital", "period"))
    if style == "capital":
        return text[0].upper() + text[1:]
    if style == "period" and text[-1].isalnum():
        return text + "."
    return text


def _check_pair(pair: Pair) -> None:
    """A phrasebook bug, not user input: every rewrite must parse and keep every content word."""
    if parse_structured(pair.structured) is None:
        raise RuntimeError(f"generated rewrite does not parse into six sections: {pair.structured!r}")
    missing = missing_content_words(pair.vague, pair.structured)
    if missing:
        raise RuntimeError(f"generated rewrite of {pair.vague!r} drops {missing}")


def pair_stats(pairs: list[Pair]) -> dict:
    """How diverse the pairs are: domains, detail kinds, lengths, list sizes."""
    parsed = [parse_structured(p.structured) for p in pairs]
    vague_words = [len(words(p.vague)) for p in pairs]
    target_words = [len(words(p.structured)) for p in pairs]
    return {
        "pairs": len(pairs),
        "domains": dict(sorted(Counter(p.domain for p in pairs).items())),
        "detail_kinds": dict(sorted(Counter(k for p in pairs for k in p.details).items())),
        "personas": len({s.persona for s in parsed if s}),
        "vague_words": {"min": min(vague_words), "mean": round(sum(vague_words) / len(pairs), 1), "max": max(vague_words)},
        "structured_words": {"min": min(target_words), "mean": round(sum(target_words) / len(pairs), 1),
                             "max": max(target_words)},
        "constraints": dict(sorted(Counter(len(s.constraints) for s in parsed if s).items())),
        "steps": dict(sorted(Counter(len(s.steps) for s in parsed if s).items())),
    }


def save_pairs(pair_set: PairSet, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    body = {"format": FILE_FORMAT, "version": 1, "seed": pair_set.seed, "sha256": pair_set.sha256(),
            "stats": pair_set.stats, "train": [asdict(p) for p in pair_set.train],
            "held_out": [asdict(p) for p in pair_set.held_out]}
    return write_json_atomic(path, body, overwrite=overwrite)


def load_pairs(path: str | os.PathLike[str]) -> PairSet:
    """Read a pairs file: ours (``train`` + ``held_out``) or a plain list of {vague, structured} (all training)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training data file {path} does not exist (make one with `lora-lab refiner data`)")
    if path.stat().st_size > MAX_DATA_BYTES:
        raise ValueError(f"{path} is {path.stat().st_size} bytes; the limit for a pairs file is {MAX_DATA_BYTES}")
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not UTF-8 JSON ({exc})") from None
    if isinstance(body, list):
        return PairSet(_pairs(path, "list", body), [])
    if not isinstance(body, dict) or not isinstance(body.get("train"), list):
        raise ValueError(f"{path}: expected a JSON list of pairs or an object with 'train' and 'held_out' lists")
    return PairSet(_pairs(path, "train", body["train"]), _pairs(path, "held_out", body.get("held_out", [])),
                   body.get("seed"), body.get("stats", {}))


def _pairs(path: Path, where: str, items: list) -> list[Pair]:
    pairs = []
    for index, item in enumerate(items):
        texts = [item.get(key) if isinstance(item, dict) else None for key in ("vague", "structured")]
        if not all(isinstance(text, str) and 0 < len(text.strip()) <= MAX_TEXT_CHARS for text in texts):
            raise ValueError(f"{path}: {where}[{index}] needs non-empty 'vague' and 'structured' strings "
                             f"of at most {MAX_TEXT_CHARS} characters")
        pairs.append(Pair(texts[0], texts[1], str(item.get("domain", "")), tuple(item.get("details", ()))))
    return pairs
