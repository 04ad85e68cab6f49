"""Prompt categories: a coarse context for the explorer (the best checkpoint for portraits need not be the
best for landscapes). A table of keywords, not a model: cheap, offline and predictable."""

from __future__ import annotations

import re

# category -> words that mark it (lower case; matched as whole words)
CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "portrait": ("portrait", "face", "headshot", "woman", "man", "girl", "boy", "person", "selfie", "closeup"),
    "landscape": ("landscape", "mountain", "mountains", "forest", "sea", "ocean", "city", "sky", "valley",
                  "river", "scenery", "beach", "desert"),
    "anime": ("anime", "manga", "chibi", "cel", "waifu", "illustration", "cartoon"),
    "product": ("product", "packshot", "bottle", "shoe", "sneaker", "watch", "perfume", "advert", "packaging"),
}
WORD = re.compile(r"[a-z]+")


def prompt_category(prompt: str) -> str:
    """The category whose keywords the prompt mentions most ('' when none; ties go to the table order)."""
    words = WORD.findall(prompt.lower())
    hits = {name: sum(words.count(k) for k in keys) for name, keys in CATEGORY_KEYWORDS.items()}
    best = max(hits, key=lambda name: hits[name])
    return best if hits[best] else ""
