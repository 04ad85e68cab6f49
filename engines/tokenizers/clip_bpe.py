"""Build the real CLIP tokenizer (49,408 tokens) from the bundled BPE merges, without a model hub.

Same algorithm as OpenAI's SimpleTokenizer: 256 byte symbols, their end-of-word forms, one token per
merge, then the two special tokens. "a photo of a cat" -> [49406, 320, 1125, 539, 320, 2368, 49407].
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

BPE_FILE = Path(__file__).with_name("bpe_simple_vocab_16e6.txt.gz")
MERGES = 49152 - 256 - 2
MAX_LENGTH = 77


def _bytes_to_unicode() -> dict[int, str]:
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes)))


@functools.lru_cache(maxsize=1)
def _vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    lines = gzip.open(BPE_FILE).read().decode("utf-8").split("\n")[1:MERGES + 1]
    merges = [tuple(line.split()) for line in lines]
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}, merges


@functools.lru_cache(maxsize=4)
def clip_tokenizer(max_length: int = MAX_LENGTH):
    """A transformers ``CLIPTokenizer`` equal to SD's CLIP-L tokenizer (padding with the end token); built once.

    The vocabulary goes through files in a temporary folder because that is the one constructor path that
    transformers 4.x and 5.x both honour (5.x ignores ``vocab_file=`` arguments; 4.x requires them).
    """
    import json
    import tempfile

    from transformers import CLIPTokenizer

    vocab, merges = _vocab_and_merges()
    with tempfile.TemporaryDirectory(prefix="lora_lab_clip_") as folder:
        Path(folder, "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        Path(folder, "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n",
                                              encoding="utf-8")
        return CLIPTokenizer.from_pretrained(folder, model_max_length=max_length, pad_token="<|endoftext|>")
