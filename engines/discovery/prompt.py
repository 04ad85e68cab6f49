"""Prompt syntax of ComfyUI and A1111 turned into weighted keywords.

Handles ``(word:1.2)``, ``((word))``, ``[word]``, escaped ``\\(`` ``\\)``, ``BREAK``, ``embedding:name``,
``<lora:name:w[:clip_w]>`` (and ``<lyco:...>``), ``{a|b}`` alternatives and ``__wildcard__`` names.
Keywords are the folded, stop-word-free words of each comma-separated chunk (multi-word triggers are
matched against them as phrases by the scorer). The parse is linear in the prompt's length and the
prompt is capped, so any input returns quickly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..common.prompt_syntax import EMBEDDING, LORA_TAG
from .text import words

MAX_PROMPT_CHARS = 5000
MAX_NESTING = 32
EMPHASIS, DE_EMPHASIS = 1.1, 1 / 1.1

_LORA_TAG = LORA_TAG
_EMBEDDING = EMBEDDING
_WILDCARD = re.compile(r"__[\w\-/*]+?__")
_EXPLICIT_WEIGHT = re.compile(r":\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*$")
_CHUNK_BREAK = re.compile(r"[,;\n|{}]|\bBREAK\b|\.(?=\s|$)")


@dataclass(frozen=True)
class LoraTag:
    """A ``<lora:name:w>`` already in the prompt: we never add that LoRA again."""

    name: str
    model_weight: float
    clip_weight: float


@dataclass
class ParsedPrompt:
    """Keywords with their emphasis, grouped per chunk, plus the non-text parts of the prompt."""

    chunks: list[list[tuple[str, float]]] = field(default_factory=list)
    lora_tags: list[LoraTag] = field(default_factory=list)
    embeddings: list[str] = field(default_factory=list)
    text: str = ""
    warnings: list[str] = field(default_factory=list)

    def keywords(self) -> dict[str, float]:
        """Each distinct word with its largest emphasis."""
        out: dict[str, float] = {}
        for chunk in self.chunks:
            for word, weight in chunk:
                out[word] = max(weight, out.get(word, 0.0))
        return out


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def _lora_tags(text: str) -> tuple[str, list[LoraTag]]:
    tags = []
    for match in _LORA_TAG.finditer(text):
        if match.group(1).lower() == "hypernet":
            continue
        model_weight = _float(match.group(3), 1.0)
        tags.append(LoraTag(match.group(2).strip(), model_weight, _float(match.group(4), model_weight)))
    return _LORA_TAG.sub(",", text), tags


def attention_segments(text: str) -> list[tuple[str, float]]:
    """Split by A1111/ComfyUI emphasis: ``(a:1.3)`` -> ("a", 1.3), ``((a))`` -> ("a", 1.21), escapes kept literal."""
    segments: list[tuple[str, float]] = []
    stack: list[tuple[str, int]] = []  # (bracket, index in segments where it opened)
    buffer: list[str] = []
    weights: list[float] = [1.0]

    def flush() -> None:
        if buffer:
            segments.append(("".join(buffer), weights[-1]))
            buffer.clear()

    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            buffer.append(text[index + 1])
            index += 2
            continue
        if char in "([" and len(stack) < MAX_NESTING:
            flush()
            stack.append((char, len(segments)))
            weights.append(weights[-1] * (EMPHASIS if char == "(" else DE_EMPHASIS))
        elif char in ")]" and stack:
            opened, start = stack.pop()
            explicit = _EXPLICIT_WEIGHT.search("".join(buffer)) if opened == "(" and char == ")" else None
            if explicit:
                del buffer[explicit.start() - len("".join(buffer)):]
                flush()
                outer = weights[-2]
                segments[start:] = [(s, w / weights[-1] * outer * float(explicit.group(1))) for s, w in segments[start:]]
            else:
                flush()
            weights.pop()
        else:
            buffer.append(char)
        index += 1
    flush()
    return segments


def parse_prompt(prompt: str) -> ParsedPrompt:
    """Parse a prompt of any size or content; never raises."""
    if not isinstance(prompt, str):
        prompt = "" if prompt is None else str(prompt)
    parsed = ParsedPrompt()
    if len(prompt) > MAX_PROMPT_CHARS:
        parsed.warnings.append(f"the prompt is {len(prompt):,} characters; only the first {MAX_PROMPT_CHARS:,} "
                               "were used to pick LoRAs")
        prompt = prompt[:MAX_PROMPT_CHARS]
    text, parsed.lora_tags = _lora_tags(prompt)
    parsed.embeddings = _EMBEDDING.findall(text)
    text = _WILDCARD.sub(",", _EMBEDDING.sub(",", text))
    for segment, weight in attention_segments(text):
        for piece_index, piece in enumerate(_CHUNK_BREAK.split(segment)):
            if piece_index > 0 or not parsed.chunks:
                parsed.chunks.append([])
            parsed.chunks[-1].extend((word, round(weight, 4)) for word in words(piece))
    parsed.chunks = [chunk for chunk in parsed.chunks if chunk]
    parsed.text = text
    return parsed
