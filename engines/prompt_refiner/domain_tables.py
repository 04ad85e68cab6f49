"""The phrase tables of the synthetic pairs' domains, read from JSON data files next to this module.

``domains_work.json`` (software, data, writing, marketing, email, product, research, careers) and
``domains_life.json`` (images, design, music, teaching, travel, food, fitness, money) hold one object per
:class:`~.phrasebook.Domain`, its tasks as objects of :class:`~.phrasebook.Task`'s fields. Data, not code,
so a phrase can be added or a domain held out without touching Python; a file that does not match the
dataclasses fails at import with the file, the domain and the field named.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from .phrasebook import Domain, Task

HERE = Path(__file__).resolve().parent
TASK_FIELDS = {f.name for f in fields(Task)}
DOMAIN_FIELDS = {f.name for f in fields(Domain)}


def _task(raw: dict, where: str) -> Task:
    if not isinstance(raw, dict) or not {"verb", "obj", "topics"} <= set(raw) <= TASK_FIELDS:
        raise ValueError(f"{where}: a task needs verb, obj, topics (and optionally article), got {raw!r}")
    return Task(raw["verb"], raw["obj"], tuple(raw["topics"]), raw.get("article"))


def _domain(raw: dict, source: Path) -> Domain:
    name = raw.get("name", "?") if isinstance(raw, dict) else "?"
    where = f"{source.name}, domain {name!r}"
    if not isinstance(raw, dict) or set(raw) != DOMAIN_FIELDS:
        missing, extra = DOMAIN_FIELDS - set(raw or {}), set(raw or {}) - DOMAIN_FIELDS
        raise ValueError(f"{where}: fields missing {sorted(missing)}, unknown {sorted(extra)}")
    tasks = tuple(_task(task, where) for task in raw["tasks"])
    details = tuple((phrase, constraint) for phrase, constraint in raw["details"])
    plain = {key: tuple(raw[key]) for key in ("personas", "contexts", "detail_kinds", "constraints", "steps", "goals")}
    return Domain(name=raw["name"], tasks=tasks, details=details, **plain)


def load_domains(filename: str) -> tuple[Domain, ...]:
    """The domains of one table file in this package."""
    source = HERE / filename
    return tuple(_domain(raw, source) for raw in json.loads(source.read_text(encoding="utf-8")))


WORK_DOMAINS = load_domains("domains_work.json")
LIFE_DOMAINS = load_domains("domains_life.json")
