"""How common an English word is, from the CLIP tokenizer's merge order (offline, already in the pack).

The BPE merges are learned most-frequent first from image captions, so the merge that completes a word
("space</w>" at rank ~1,600, "glass</w>" ~2,800) ranks it by how common it is in captions; names and
coined triggers ("makima", "papercut", "hipoly") never became one token. Discovery uses this for one
rule: a common word that matches only *part* of a trigger, name or tag ("space" of "liminal space",
"bowl" of "ramen bowl") is not evidence on its own; the whole phrase, or a rare word, still is.
"""

from __future__ import annotations

import functools
import gzip

from ..tokenizers.clip_bpe import BPE_FILE, MERGES

COMMON_WORD_RANK = 10_000
END_OF_WORD = "</w>"


@functools.lru_cache(maxsize=1)
def _word_ranks() -> dict[str, int]:
    """Word -> index of the merge that completed it as one token (built once, ~0.2 s)."""
    lines = gzip.open(BPE_FILE).read().decode("utf-8").split("\n")[1:MERGES + 1]
    ranks: dict[str, int] = {}
    for index, line in enumerate(lines):
        left, _, right = line.partition(" ")
        token = left + right
        if token.endswith(END_OF_WORD):
            ranks.setdefault(token[: -len(END_OF_WORD)], index)
    return ranks


def word_rank(word: str) -> int | None:
    """Merge rank of ``word`` as a whole token (lower = more common), None when it never became one."""
    return _word_ranks().get(word)


def is_common(word: str) -> bool:
    rank = word_rank(word)
    return rank is not None and rank < COMMON_WORD_RANK
