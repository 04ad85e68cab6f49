"""Tokenizers that work offline.

``bpe_simple_vocab_16e6.txt.gz`` is OpenAI CLIP's byte-pair vocabulary as shipped by open_clip (MIT, see
``LICENSE-open_clip.txt``): the tokenizer of SD1.5's CLIP-L and SDXL's CLIP-L/CLIP-G. Inside ComfyUI the
CLIP object's own tokenizer is used; this one serves the CLI, tests and benchmarks.
"""

from .clip_bpe import clip_tokenizer

__all__ = ["clip_tokenizer"]
