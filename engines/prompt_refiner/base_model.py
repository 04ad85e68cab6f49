"""Seq2seq base models in folders laid out like a Flan-T5 download: build, save, validate, load, fingerprint.

A base folder holds ``config.json``, ``model.safetensors`` (or shards + index), ``generation_config.json`` and
the tokenizer files (``tokenizer.json`` and/or ``spiece.model``, ``tokenizer_config.json``). The same loader
reads a real Flan-T5 folder and the small ones this pack builds for tests and the demo; it never downloads,
never reads pickle weights, and explains what is missing when a folder is not usable.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelUnavailableError
from .files import read_json

# T5 shapes: tiny (tests), local (the demo/benchmark base trained here), and the real Flan-T5 small/base shapes.
SHAPES: dict[str, dict[str, int]] = {
    "tiny": dict(d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=4),
    "local": dict(d_model=128, d_kv=32, d_ff=256, num_layers=2, num_decoder_layers=2, num_heads=4),
    "flan-t5-small": dict(d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_decoder_layers=8, num_heads=6,
                          vocab_size=32128),
    "flan-t5-base": dict(d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12,
                         vocab_size=32128),
}
SIGNATURE_KEYS = ("model_type", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
                  "vocab_size", "feed_forward_proj")
SUPPORTED_MODEL_TYPES = ("t5",)
FINGERPRINT_CHUNKS, FINGERPRINT_CHUNK_BYTES = 16, 64 * 1024
MAX_HEADER_BYTES = 64 * 1024 * 1024


@dataclass
class LoadedBase:
    """A base model (eval mode, on its device), its tokenizer, and what identifies it."""

    model: object
    tokenizer: object
    folder: Path
    signature: dict
    fingerprint: str


def build_t5(shape: str, vocab_size: int, seed: int = 0):
    """A ``T5ForConditionalGeneration`` with random weights in a named shape (Flan-T5 style: gated-gelu)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    if shape not in SHAPES:
        raise ValueError(f"unknown shape '{shape}'; choose one of {sorted(SHAPES)}")
    dims = {"vocab_size": vocab_size, **SHAPES[shape]}
    config = T5Config(**dims, feed_forward_proj="gated-gelu", dropout_rate=0.1,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(config)


def save_base(model, tokenizer, folder: str | Path, info: dict | None = None) -> Path:
    """Write a base folder in the Flan-T5 download layout, plus ``lora_lab_base.json`` saying how it was made."""
    from .files import write_json_atomic

    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"base model folder {folder} is not empty; choose a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    if info is not None:
        write_json_atomic(folder / "lora_lab_base.json", info)
    return folder


def check_base_folder(folder: Path) -> list[Path]:
    """The weight files of a usable-looking base folder, or a ModelUnavailableError naming what is wrong."""
    if not folder.is_dir():
        raise ModelUnavailableError(f"base model folder {folder} does not exist")
    if not (folder / "config.json").is_file():
        raise ModelUnavailableError(f"base model folder {folder} has no config.json")
    weights = sorted(folder.glob("model*.safetensors"))
    if not weights:
        pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
        hint = f" (found {', '.join(pickled)}: pickle files are never loaded; save the model as safetensors)" if pickled else ""
        raise ModelUnavailableError(f"base model folder {folder} has no model.safetensors{hint}")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "spiece.model")):
        raise ModelUnavailableError(f"base model folder {folder} has no tokenizer.json or spiece.model")
    return weights


def read_signature(folder: Path) -> dict:
    """The architecture facts an adapter depends on, from ``config.json``."""
    try:
        config = read_json(folder / "config.json", "base model config")
    except (FileNotFoundError, ValueError) as exc:
        raise ModelUnavailableError(str(exc)) from None
    if config.get("model_type") not in SUPPORTED_MODEL_TYPES:
        raise ModelUnavailableError(f"{folder / 'config.json'} has model_type {config.get('model_type')!r}; "
                                    f"the refiner runs T5-family seq2seq models ({', '.join(SUPPORTED_MODEL_TYPES)})")
    return {key: config.get(key) for key in SIGNATURE_KEYS}


def weights_fingerprint(files: list[Path]) -> str:
    """sha256 of each safetensors header (names, shapes, dtypes) and 16 evenly spaced 64 KiB samples of its data.

    Reads about 1 MB whatever the model size, and tells apart two bases with equal shapes but other weights.
    """
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            raw = handle.read(8)
            header_len = struct.unpack("<Q", raw)[0] if len(raw) == 8 else -1
            if not 0 < header_len <= min(MAX_HEADER_BYTES, size - 8):
                raise ModelUnavailableError(f"{path} is not a valid safetensors file (bad header length)")
            digest.update(handle.read(header_len))
            data_start, data_len = 8 + header_len, size - 8 - header_len
            for index in range(FINGERPRINT_CHUNKS):
                handle.seek(data_start + max(0, data_len - FINGERPRINT_CHUNK_BYTES) * index // (FINGERPRINT_CHUNKS - 1))
                digest.update(handle.read(FINGERPRINT_CHUNK_BYTES))
    return digest.hexdigest()


def load_base(folder: str | Path, device: str = "cpu") -> LoadedBase:
    """Load a base folder (local files only, safetensors only) in eval mode with every parameter frozen."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    folder = Path(folder)
    weights = check_base_folder(folder)
    signature = read_signature(folder)
    fingerprint = weights_fingerprint(weights)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForSeq2SeqLM.from_pretrained(folder, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise ModelUnavailableError(f"could not load the base model in {folder} ({type(exc).__name__}: {exc})") from None
    model.requires_grad_(False)
    model.eval().to(device)
    return LoadedBase(model, tokenizer, folder, signature, fingerprint)


def base_identity(base: LoadedBase) -> dict:
    """What an adapter records about the base it was trained on (checked again when it is loaded)."""
    return {"name": base.folder.name, "signature": base.signature, "fingerprint": base.fingerprint,
            "vocab_sha256": hashlib.sha256(json.dumps(sorted(base.tokenizer.get_vocab().items())).encode()).hexdigest()}

