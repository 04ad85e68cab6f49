"""The target encoder's own tokenizer, wrapped to what the engine needs (content ids + special tokens).

Inside ComfyUI this wraps the CLIP object's tokenizer (the bridge hands over its transformers tokenizer);
standalone it wraps the tokenizer of an encoder folder, or ``engines.tokenizers.clip_tokenizer()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .encoders.base import SpecialTokens


@dataclass
class EncoderTokenizer:
    tokenizer: object  # a transformers tokenizer
    special: SpecialTokens

    def encode_text(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids) -> str:
        return self.tokenizer.decode(list(ids)).strip()

    def window(self, max_tokens: int) -> int:
        """Content tokens that fit the encoder's window once its start/end tokens are added."""
        return max_tokens - self.special.count


def wrap_tokenizer(tokenizer, kind: str, mask_token: str | None = None) -> EncoderTokenizer:
    """Special tokens by encoder kind: CLIP start/end, BERT [CLS]/[SEP], T5 end only; plus the mask token."""
    mask = None
    if mask_token is not None:
        mask = tokenizer.convert_tokens_to_ids(mask_token)
        if mask is None or mask == getattr(tokenizer, "unk_token_id", None):
            raise ValueError(f"the tokenizer has no mask token {mask_token!r}")
    if kind == "clip":
        special = SpecialTokens(tokenizer.bos_token_id, tokenizer.eos_token_id, mask, tokenizer.pad_token_id)
    elif kind == "bert":
        special = SpecialTokens(tokenizer.cls_token_id, tokenizer.sep_token_id, mask, tokenizer.pad_token_id)
    elif kind == "t5":
        special = SpecialTokens(None, tokenizer.eos_token_id, mask, tokenizer.pad_token_id)
    else:
        raise ValueError(f"unknown encoder kind '{kind}'")
    if kind != "t5" and (special.bos is None or special.eos is None):
        raise ValueError(f"the {kind} tokenizer has no start/end tokens")
    return EncoderTokenizer(tokenizer, special)
