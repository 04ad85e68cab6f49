"""Words out of prompts, trigger phrases, tags and file names, folded so that both sides meet.

Every string the index stores and every prompt it is asked about goes through :func:`words`, so
"Pixel-Art_XL_v2", "pixel art" and "pixel arts" all become ``["pixel", "art"]``. File names get extra
splitting (camelCase, digits, version tags) by :func:`name_words`.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from .vocabulary import GENERIC_WORDS, NAME_NOISE, STOP_WORDS, VERSION_TOKEN

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CAMEL = re.compile(r"\d+[A-Z]+(?![a-z])|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_A-Za-z]+", re.UNICODE)
# Adapter-type words glued to a name ("hipoly3DModelLora", "styleLoRA"), only at a camelCase boundary.
_GLUED_NOISE = re.compile(r"(?:(?<=^)|(?<=[a-z0-9]))(?:LoRA|Lora|LORA|LyCORIS|LoCon|LoHa|LoKr)(?=[A-Z0-9]|$)")
_TRAILING_VERSION = re.compile(r"(?:v\d+[a-z]?|\d+)$")
_PLURAL_RULES = (("ies", "y", 5), ("ches", "ch", 5), ("shes", "sh", 5), ("xes", "x", 4), ("sses", "ss", 5))
MAX_WORD_CHARS = 40


@functools.lru_cache(maxsize=1 << 16)
def fold(word: str) -> str:
    """Simple plural folding: "cats" -> "cat", "puppies" -> "puppy", "glasses" -> "glass"; "dress" stays."""
    for suffix, replacement, min_length in _PLURAL_RULES:
        if len(word) >= min_length and word.endswith(suffix):
            return word[: -len(suffix)] + replacement
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


# Anchored at a word start and possessive: no backtracking on very long words (linear in the text).
_HYPHENATED = re.compile(r"(?<![^\W_])[^\W_]++(?:-[^\W_]++)+", re.UNICODE)


def words(text: str) -> list[str]:
    """Folded words of ``text`` without stop words (keeps order, keeps duplicates).

    A hyphenated compound also yields its joined form ("ukiyo-e" -> "ukiyo", "ukiyoe"; "spider-man" ->
    "spider", "man", "spiderman"), since file names and tags write it either way. Short strings (tags,
    triggers: the same few thousand across a library) are memoised.
    """
    if len(text) <= _MEMO_CHARS:
        return list(_short_words(text))
    return _words(text)


_MEMO_CHARS = 80


@functools.lru_cache(maxsize=1 << 16)
def _short_words(text: str) -> tuple[str, ...]:
    return tuple(_words(text))


def _words(text: str) -> list[str]:
    text = _normalise(text)
    out = []
    for raw in _WORD.findall(text):
        if len(raw) < 2 or len(raw) > MAX_WORD_CHARS or raw in STOP_WORDS:
            continue
        out.append(fold(raw))
    for compound in _HYPHENATED.findall(text):
        joined = compound.replace("-", "")
        if len(joined) <= MAX_WORD_CHARS:
            out.append(fold(joined))
    return out


def _keep_name_token(token: str) -> bool:
    return not (VERSION_TOKEN.match(token) or token in NAME_NOISE or token in STOP_WORDS
                or len(token) < 2 or len(token) > MAX_WORD_CHARS)


def _chunks(name: str) -> list[str]:
    chunks = (_GLUED_NOISE.sub("", chunk) for chunk in _WORD.findall(unicodedata.normalize("NFKC", name)))
    return [chunk for chunk in chunks if chunk]


def name_words(name: str) -> list[str]:
    """Words of a file or model name: split on separators, camelCase and digits; version tags dropped.

    "ArcaneStyle_v2-000012" -> ["arcane", "style"]; "pixel-art-xl" -> ["pixel", "art"].
    """
    out: list[str] = []
    for chunk in _chunks(name):
        for part in _CAMEL.findall(chunk) or [chunk]:
            part = part.lower()
            if _keep_name_token(part) and fold(part) not in out:
                out.append(fold(part))
    return out


def name_chunks(name: str) -> list[str]:
    """Whole camelCase chunks of a name ("LowRA" -> ["lowra"]): many names are one made-up word."""
    out = []
    for chunk in _chunks(name):
        token = _TRAILING_VERSION.sub("", chunk.lower())
        if len(_CAMEL.findall(chunk)) > 1 and _keep_name_token(token):
            out.append(fold(token))
    return out


def raw_name_tokens(name: str) -> list[str]:
    """Every lower-cased chunk and camelCase part of a name, noise included (for family hints)."""
    out = []
    for chunk in _WORD.findall(unicodedata.normalize("NFKC", name)):
        out.append(chunk.lower())
        out.extend(part.lower() for part in _CAMEL.findall(chunk))
    return out


_FOLDED_GENERIC = frozenset(fold(word) for word in GENERIC_WORDS)


def is_generic(word: str) -> bool:
    """Is a folded word one that must never pick a LoRA on its own?"""
    return word in _FOLDED_GENERIC


def phrase_key(text: str) -> str:
    """A comparable form of a whole phrase ("Pixel Art," -> "pixel art")."""
    return " ".join(words(text))
