"""Encode the dataset once: VAE latents per image and text embeddings per caption, cached on disk.

The reference training scripts run the VAE and the text encoder(s) on every step; their outputs never
change while only the UNet LoRA trains, so we compute them once (and keep them in the run folder, keyed
by a hash of the model, the images, the sizes and the captions, so a resume skips this work too). For
latents we keep the VAE posterior's mean and std and draw a fresh sample every step, like the reference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from .models import TEXT_ENCODERS

CACHE_DIR = "cache"
VAE_BATCH = 4


def cover_crop(original: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(resized width, resized height, crop left, crop top): scale to cover ``size`` keeping aspect, center crop."""
    width, height = size
    scale = max(width / original[0], height / original[1])
    resized_w, resized_h = max(width, round(original[0] * scale)), max(height, round(original[1] * scale))
    return resized_w, resized_h, (resized_w - width) // 2, (resized_h - height) // 2


def load_image(path: Path, size: tuple[int, int]):
    """RGB image resized to cover ``size`` (keeping its aspect), center-cropped, as a [-1, 1] CHW tensor."""
    import numpy as np
    import torch
    from PIL import Image

    width, height = size
    with Image.open(path) as handle:
        image = handle.convert("RGB")
    resized_w, resized_h, left, top = cover_crop(image.size, size)
    resized = image.resize((resized_w, resized_h), Image.Resampling.BICUBIC)
    cropped = resized.crop((left, top, left + width, top + height))
    array = np.asarray(cropped, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _digest(parts: Sequence[object]) -> str:
    return hashlib.sha256(json.dumps(list(parts), sort_keys=True, default=str).encode()).hexdigest()


def image_key(path: Path, size: tuple[int, int]) -> list:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns, list(size)]


def _load_cache(path: Path, key: str) -> dict | None:
    from safetensors import safe_open

    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as handle:
        if (handle.metadata() or {}).get("key") != key:
            return None
        return {name: handle.get_tensor(name) for name in handle.keys()}


def _save_cache(path: Path, key: str, tensors: dict) -> None:
    from ..lora_format import save_tensors

    save_tensors(path, tensors, {"key": key}, overwrite=True)


def encode_latents(vae, images: list[Path], sizes: list[tuple[int, int]], device, dtype,
                   cache_path: Path | None, fingerprint: str):
    """(means, stds): per image, the VAE posterior at its bucket size. Uses/refreshes the disk cache."""
    import torch

    key = _digest([fingerprint, *(image_key(p, s) for p, s in zip(images, sizes))])
    cached = _load_cache(cache_path, key) if cache_path else None
    if cached is not None:
        return ([cached[f"mean.{i}"] for i in range(len(images))], [cached[f"std.{i}"] for i in range(len(images))])
    if vae is None:
        return None
    means: list = [None] * len(images)
    stds: list = [None] * len(images)
    groups: dict[tuple[int, int], list[int]] = {}
    for index, size in enumerate(sizes):
        groups.setdefault(size, []).append(index)
    with torch.no_grad():
        for size, indices in groups.items():
            for start in range(0, len(indices), VAE_BATCH):
                chunk = indices[start:start + VAE_BATCH]
                pixels = torch.stack([load_image(images[i], size) for i in chunk]).to(device, dtype)
                posterior = vae.encode(pixels).latent_dist
                for offset, index in enumerate(chunk):
                    means[index] = posterior.mean[offset].float().cpu()
                    stds[index] = posterior.std[offset].float().cpu()
    if cache_path:
        _save_cache(cache_path, key, {**{f"mean.{i}": m for i, m in enumerate(means)},
                                      **{f"std.{i}": s for i, s in enumerate(stds)}})
    return means, stds


def tokenize(tokenizers: list, spec_family: str, captions: list[str]) -> list:
    """Token ids per text encoder ([N, 77]); CLIP-G pads with id 0 like SDXL's tokenizer_2."""
    out = []
    for tokenizer, spec in zip(tokenizers, TEXT_ENCODERS[spec_family]):
        ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                        return_tensors="pt").input_ids
        if not spec.pad_with_end:
            ids = _pad_after_end(ids, tokenizer.eos_token_id)
        out.append(ids)
    return out


def _pad_after_end(ids, end_id: int):
    ids = ids.clone()
    for row in ids:
        positions = (row == end_id).nonzero()
        if len(positions):
            row[int(positions[0]) + 1:] = 0
    return ids


def text_embeddings(text_encoders: list, family: str, token_ids: list, device):
    """(hidden states [N, 77, D_total], pooled [N, P] or None) as the family's UNet expects them."""
    hidden, pooled = [], None
    for encoder, spec, ids in zip(text_encoders, TEXT_ENCODERS[family], token_ids):
        output = encoder(ids.to(device), output_hidden_states=True)
        hidden.append(output.hidden_states[spec.hidden_layer] if spec.hidden_layer != -1 else output[0])
        if spec.pooled:
            pooled = output.text_embeds if hasattr(output, "text_embeds") else output.pooler_output
    import torch

    return torch.cat(hidden, dim=-1), pooled


def encode_captions(text_encoders: list, tokenizers: list, family: str, captions: list[str], device,
                    cache_path: Path | None, fingerprint: str):
    """Per unique caption: (hidden [77, D], pooled [P] or None), cached on disk. Returns (dict caption->index, tensors)."""
    import torch

    unique = sorted(set(captions))
    key = _digest([fingerprint, family, unique])
    cached = _load_cache(cache_path, key) if cache_path else None
    if cached is None:
        if text_encoders is None:
            return None
        with torch.no_grad():
            hidden, pooled = text_embeddings(text_encoders, family, tokenize(tokenizers, family, unique), device)
        cached = {"hidden": hidden.float().cpu().contiguous()}
        if pooled is not None:
            cached["pooled"] = pooled.float().cpu().contiguous()
        if cache_path:
            _save_cache(cache_path, key, cached)
    return {caption: index for index, caption in enumerate(unique)}, cached
