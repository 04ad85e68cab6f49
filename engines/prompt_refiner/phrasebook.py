"""The vocabulary the synthetic pairs are drawn from, as data: domains, detail kinds, vague phrasings.

A pair is one task of one domain, said vaguely (a phrasing, maybe with a topic and a detail such as
"for beginners"), and its structured rewrite (the domain's persona, context, constraints, steps and goal,
with the detail turned into the first constraint). Every word of a vague prompt that carries intent must
reappear in its rewrite; ``data.py`` checks that for every pair it makes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One request of a domain: ``verb`` + ``obj`` + one of ``topics`` ("for a {business}", slots from ``pools``)."""

    verb: str
    obj: str
    topics: tuple[str, ...]
    article: str | None = None  # None: "a"/"an" by the object's first letter; "" for plurals

    def with_article(self) -> str:
        article = self.article if self.article is not None else ("an" if self.obj[0] in "aeiou" else "a")
        return f"{article} {self.obj}".strip()


@dataclass(frozen=True)
class Domain:
    name: str
    personas: tuple[str, ...]
    contexts: tuple[str, ...]
    tasks: tuple[Task, ...]
    detail_kinds: tuple[str, ...]            # keys of DETAIL_KINDS that make sense here
    details: tuple[tuple[str, str], ...]     # domain-only (phrase in the vague prompt, constraint it becomes)
    constraints: tuple[str, ...]             # the domain's usual constraints
    steps: tuple[str, ...]                   # in working order; may use {obj}
    goals: tuple[str, ...]                   # may use {obj}


# Details a user may add to a vague prompt, by kind: (phrase, the constraint it becomes). {n} is a number.
DETAIL_KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "audience": (
        ("for beginners", "Write for beginners and define any jargon."),
        ("for kids", "Make it suitable for kids."),
        ("for experts", "Assume the readers are experts and skip the basics."),
        ("for my team", "Address it to the team and keep shared context in mind."),
    ),
    "tone": (
        ("friendly", "Use a friendly, warm tone."),
        ("formal", "Keep the tone formal and polite."),
        ("funny", "Make it funny without losing the point."),
        ("professional", "Keep the tone professional."),
    ),
    "format": (
        ("as a list", "Present the answer as a list."),
        ("step by step", "Explain it step by step."),
        ("in a table", "Put the key facts in a table."),
        ("with examples", "Include concrete examples."),
    ),
    "length": (
        ("under {n} words", "Keep it under {n} words."),
        ("short", "Keep it short and to the point."),
        ("one page", "Fit everything on one page."),
    ),
    "time": (
        ("by friday", "Make it achievable by Friday."),
        ("in {n} minutes", "Make it doable in {n} minutes."),
        ("this week", "Plan it so it can be done this week."),
    ),
    "budget": (
        ("on a budget", "Keep the cost within a small budget."),
        ("under {n} dollars", "Stay under {n} dollars in total."),
        ("cheap", "Favour cheap options."),
    ),
}
NUMBERS = tuple(range(10, 501, 5))

# Constraints any domain may add after its own.
GENERAL_CONSTRAINTS = (
    "Do not invent facts; say when something is uncertain.",
    "Ask one clarifying question if a key detail is missing.",
    "Stay on the request and do not add unrelated topics.",
    "Use plain language.",
)

# Ways people type a vague request. {verb} {Verb} {obj} {a_obj} {topic}; the topic may be empty.
PHRASINGS = (
    "{verb} {obj}",
    "{verb} {obj} {topic}",
    "{verb} {a_obj} {topic}",
    "{obj} {topic}",
    "{obj}",
    "can you {verb} {a_obj} {topic}?",
    "i need {a_obj} {topic}",
    "help me {verb} {a_obj}",
    "pls {verb} {obj} {topic}",
    "{verb} {obj}??",
    "need {obj} {topic} asap",
    "hey, could you {verb} me {a_obj} {topic}",
    "{Verb} {a_obj} {topic}.",
    "want {a_obj} {topic}",
    "quick {obj} {topic} please",
    "i want to {verb} {a_obj} {topic}, can you help",
)
