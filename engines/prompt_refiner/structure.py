"""The six-section "golden rule" prompt: rendering, parsing, layout, and the content words of a text.

A structured prompt reads ``Act as <persona>. Context: ... Task: ... Constraints: - ... Steps: 1. ... Goal: ...``.
T5 tokenizers turn newlines into spaces, so a model's output arrives on one line; parsing therefore keys on the
section markers, never on line breaks, and :func:`layout_sections` only re-inserts line breaks for display
(whitespace, never words: every word of the refined prompt comes from the model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (section, marker) in the required order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("persona", "Act as"),
    ("context", "Context:"),
    ("task", "Task:"),
    ("constraints", "Constraints:"),
    ("steps", "Steps:"),
    ("goal", "Goal:"),
)
SECTION_NAMES = tuple(name for name, _ in SECTIONS)

_MARKER_RE = re.compile("|".join(re.escape(marker) for _, marker in SECTIONS))
_BULLET_RE = re.compile(r"(?:^|\s)-\s+")
_NUMBERED_RE = re.compile(r"(?:^|\s)\d{1,2}\.\s+")
_WORD_RE = re.compile(r"[a-z0-9]+")

# Words that carry no intent of their own: articles, pronouns, request filler ("can you", "pls", "asap").
STOPWORDS = frozenset("""
a an the and or but if of to in on at by for with from into onto about as is are was were be been being am
it its this that these those there here i me my mine we us our you your yours he she they them their his her
do does did doing done have has had can could would should will shall may might must not no so too very
please pls plz help need needs want wants wanna like some something anything just quick quickly asap thanks
thank thx hey hi ok okay also really kind sort bit lot lots stuff thing things maybe
""".split())


@dataclass(frozen=True)
class StructuredPrompt:
    persona: str
    context: str
    task: str
    constraints: tuple[str, ...]
    steps: tuple[str, ...]
    goal: str

    def render(self) -> str:
        """The canonical text: one section per line, constraints as ``- `` bullets, steps numbered."""
        lines = [f"Act as {self.persona}.", f"Context: {self.context}", f"Task: {self.task}", "Constraints:"]
        lines += [f"- {item}" for item in self.constraints]
        lines.append("Steps:")
        lines += [f"{number}. {step}" for number, step in enumerate(self.steps, 1)]
        lines.append(f"Goal: {self.goal}")
        return "\n".join(lines)


def parse_structured(text: str) -> StructuredPrompt | None:
    """The six sections of ``text`` if each marker occurs exactly once, in order, with a non-empty body."""
    flat = " ".join(text.split())
    found = [(match.group(0), match.start(), match.end()) for match in _MARKER_RE.finditer(flat)]
    if [marker for marker, _, _ in found] != [marker for _, marker in SECTIONS] or found[0][1] != 0:
        return None
    bodies = []
    for index, (_, _, end) in enumerate(found):
        stop = found[index + 1][1] if index + 1 < len(found) else len(flat)
        bodies.append(flat[end:stop].strip())
    persona, context, task, constraints, steps, goal = bodies
    constraint_items = _items(_BULLET_RE, constraints)
    step_items = _items(_NUMBERED_RE, steps)
    if not all((persona.rstrip("."), context, task, constraint_items, step_items, goal)):
        return None
    return StructuredPrompt(persona.rstrip("."), context, task, constraint_items, step_items, goal)


def _items(pattern: re.Pattern, body: str) -> tuple[str, ...]:
    if not pattern.match(body):
        return ()
    return tuple(item.strip() for item in pattern.split(body) if item.strip())


def layout_sections(text: str) -> str:
    """Put each section, bullet and step of a one-line structured prompt on its own line (whitespace only)."""
    flat = " ".join(text.split())
    flat = _MARKER_RE.sub(lambda match: "\n" + match.group(0), flat)
    flat = re.sub(r"(Constraints:|Steps:)\s+", r"\1\n", flat)
    flat = re.sub(r"\s+-\s+(?=\S)", "\n- ", flat)
    flat = re.sub(r"\s+(\d{1,2}\.)\s+", r"\n\1 ", flat)
    return re.sub(r" *\n *", "\n", flat).strip()


def sections_found(text: str) -> list[str]:
    """Names of the section markers in ``text``, in the order they occur (why an output is not structured)."""
    names = {marker: name for name, marker in SECTIONS}
    return [names[match.group(0)] for match in _MARKER_RE.finditer(" ".join(text.split()))]


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words, in order (the unit of ROUGE-L and of the intent check)."""
    return _WORD_RE.findall(text.lower())


def content_words(text: str) -> list[str]:
    """Words that carry intent: not stopwords, two letters or more (or a number), first occurrence order."""
    seen: dict[str, None] = {}
    for word in words(text):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


def missing_content_words(source: str, output: str) -> list[str]:
    """Content words of ``source`` that ``output`` does not contain (the intent check)."""
    present = set(words(output))
    return [word for word in content_words(source) if word not in present]
