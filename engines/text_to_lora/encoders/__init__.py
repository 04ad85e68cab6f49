"""Functional text encoders (CLIP causal; BERT and T5 bidirectional) and how to build them from a model folder.

``ENCODER_KINDS`` maps a config's encoder ``kind`` to the transformers class that reads a folder of that kind and
the function that turns the loaded model into our private functional copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import bert, clip, t5
from .base import EncoderOutput, LoraParams, ReadLayer, SpecialTokens, linear_shapes, private_copy

__all__ = ["ENCODER_KINDS", "EncoderOutput", "LoraParams", "ReadLayer", "SpecialTokens", "encoder_from_transformers",
           "linear_shapes", "load_encoder_dir", "private_copy"]


@dataclass(frozen=True)
class EncoderKind:
    model_class: str  # transformers class that loads a folder of this kind
    convert: object  # (transformers model, conditioning_layer, normed) -> functional encoder


ENCODER_KINDS = {
    "clip": EncoderKind("CLIPTextModel", lambda model, layer, normed: clip.from_transformers(model, layer, normed)),
    "bert": EncoderKind("BertModel", lambda model, layer, normed: bert.from_transformers(model)),
    "t5": EncoderKind("T5EncoderModel", lambda model, layer, normed: t5.from_transformers(model)),
}


def encoder_from_transformers(kind: str, model, conditioning_layer: int = -1, layer_norm_hidden_state: bool = True):
    """Our functional copy of a transformers model, read at ``conditioning_layer`` (CLIP; others read the last)."""
    return ENCODER_KINDS[kind].convert(model, conditioning_layer, layer_norm_hidden_state)


def load_encoder_dir(path: str | os.PathLike[str], kind: str, conditioning_layer: int = -1,
                     layer_norm_hidden_state: bool = True):
    """(functional encoder, transformers tokenizer) from a local folder (config.json + safetensors + tokenizer).

    Offline only: nothing is downloaded; a folder without safetensors weights is refused (no pickle loading).
    """
    import transformers

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"encoder folder {folder} has no config.json")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(f"encoder folder {folder} has no .safetensors weights (pickle files are not loaded)")
    model_class = getattr(transformers, ENCODER_KINDS[kind].model_class)
    model = model_class.from_pretrained(str(folder), local_files_only=True, use_safetensors=True).eval()
    return (encoder_from_transformers(kind, model, conditioning_layer, layer_norm_hidden_state),
            _tokenizer(folder, kind))


def _tokenizer(folder: Path, kind: str):
    """The folder's own tokenizer; a CLIP folder without one gets the bundled SD CLIP tokenizer."""
    import transformers

    has_files = any((folder / name).is_file() for name in ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model"))
    if not has_files and kind == "clip":
        from ...tokenizers import clip_tokenizer

        return clip_tokenizer()
    if not has_files:
        raise FileNotFoundError(f"encoder folder {folder} has no tokenizer files (tokenizer.json, vocab.*)")
    return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
