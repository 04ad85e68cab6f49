"""Prompt text in, token ids out: strip ComfyUI/A1111 prompt syntax, tokenise, fit the encoder's window.

ComfyUI and A1111 prompts carry syntax that is not text: ``(word:1.2)`` / ``((word))`` / ``[word]`` emphasis,
``embedding:name`` textual-inversion references, ``<lora:name:0.8>`` tags, ``[a:b:0.5]`` prompt editing,
``[a|b]`` alternation and the ``BREAK`` keyword. The alignment objective scores the prompt's *words*, so we keep
the words and drop the syntax. For prompt editing we keep the first alternative (what the prompt starts as)
and for alternation the first option. Embedding references are dropped (the name is a file name, not text the
encoder reads) and reported. Escaped brackets (``\\(``) stay literal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..common.prompt_syntax import EMBEDDING, LORA_TAG

_ESCAPES = {"\\(": "\0o", "\\)": "\0c", "\\[": "\0O", "\\]": "\0C"}
_LORA_TAG = LORA_TAG
_EMBEDDING = EMBEDDING
_WEIGHT = re.compile(r":\s*-?\d+(?:\.\d+)?\s*(?=\))")
_EDIT = re.compile(r"\[([^\[\]:|]*):([^\[\]:|]*)(?::\s*\d+(?:\.\d+)?)?\]")
_EDIT_FROM_NOTHING = re.compile(r"\[([^\[\]:|]*):\s*\d+(?:\.\d+)?\]")
_ALTERNATION = re.compile(r"\[([^\[\]|]*)(?:\|[^\[\]|]*)+\]")
_BREAK = re.compile(r"\bBREAK\b")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")


@dataclass(frozen=True)
class CleanPrompt:
    """The prompt's words, and what syntax was removed (shown in the node's report)."""

    text: str
    removed: tuple[str, ...] = ()


def strip_prompt_syntax(prompt: str) -> CleanPrompt:
    """``"(red fox:1.3), [blurry], embedding:bad_hands <lora:x:1>"`` -> ``"red fox, blurry"``."""
    removed: list[str] = []
    text = prompt
    for escaped, marker in _ESCAPES.items():
        text = text.replace(escaped, marker)
    text = _collect(_LORA_TAG, text, removed, lambda m: " ")
    text = _collect(_EMBEDDING, text, removed, lambda m: " ")
    text = _collect(_BREAK, text, removed, lambda m: ", ")
    text = _collect(_WEIGHT, text, removed, lambda m: "")
    text = _collect(_EDIT_FROM_NOTHING, text, removed, lambda m: " ")
    text = _collect(_EDIT, text, removed, lambda m: m.group(1))
    text = _collect(_ALTERNATION, text, removed, lambda m: m.group(1))
    text = text.replace("(", " ").replace(")", " ").replace("[", " ").replace("]", " ")
    for escaped, marker in _ESCAPES.items():
        text = text.replace(marker, escaped[1])
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text)).strip(" ,")
    return CleanPrompt(text, tuple(removed))


def _collect(pattern: re.Pattern, text: str, removed: list[str], replace) -> str:
    def substitute(match: re.Match) -> str:
        removed.append(match.group(0).strip())
        return replace(match)

    return pattern.sub(substitute, text)


class TextTokenizer(Protocol):
    """What the engine needs from a tokenizer: text -> ids without special tokens."""

    def encode_text(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class PromptTokens:
    """The ids the objective scores (content only; the encoder adds its own start/end tokens)."""

    prompt: str
    text: str
    ids: tuple[int, ...]
    window: int
    dropped: int = 0
    removed_syntax: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


def tokenize_prompt(prompt: str, tokenizer: TextTokenizer, window: int, decode=None) -> PromptTokens:
    """Clean, tokenise and cut the prompt to ``window`` content tokens, saying what is used.

    Raises ValueError for an empty prompt (after syntax stripping), naming what was there.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt is empty; give the text the LoRA should align the encoder with")
    clean = strip_prompt_syntax(prompt)
    if not clean.text:
        raise ValueError(f"prompt {prompt!r} has no words left after removing weight/embedding/LoRA syntax")
    ids = list(tokenizer.encode_text(clean.text))
    if not ids:
        raise ValueError(f"prompt {clean.text!r} gives no tokens with this encoder's tokenizer")
    warnings: list[str] = []
    dropped = max(0, len(ids) - window)
    text = clean.text
    if dropped:
        ids = ids[:window]
        text = decode(ids) if decode is not None else text
        warnings.append(f"prompt has {len(ids) + dropped} tokens but the encoder window holds {window}: "
                        f"the first {window} are used ({text!r}), {dropped} dropped")
    return PromptTokens(prompt, text, tuple(ids), window, dropped, clean.removed, tuple(warnings))


def shuffled(ids: Sequence[int], seed: int) -> tuple[int, ...]:
    """The same tokens in another order (the control): a seeded derangement when one exists."""
    import random

    ids = list(ids)
    if len(set(ids)) < 2:
        return tuple(ids)
    rng = random.Random(seed)
    for _ in range(100):
        order = ids[:]
        rng.shuffle(order)
        if order != ids:
            return tuple(order)
    return tuple(ids[1:] + ids[:1])
