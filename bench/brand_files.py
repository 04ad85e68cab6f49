"""Synthetic brand libraries for the brand-cache benchmark: kohya SD1.5 LoRAs of a chosen size, on disk.

Files have the real SD1.5 module names and shapes (UNet attention/feed-forward at widths 320/640/1280,
CLIP-L layers at 768), fp16, with the rank chosen to reach the size asked for: a rank-128 file is about
150 MB, like the large LoRAs users download; rank 8 about 9 MB.
"""

from __future__ import annotations

import json
from pathlib import Path

# (down block widths, mid, up block widths): one transformer block per attention
_UNET_BLOCKS = ([("down_blocks", b, a, w) for b, w in enumerate((320, 640, 1280)) for a in range(2)]
                + [("mid_block", None, 0, 1280)]
                + [("up_blocks", b, a, w) for b, w in zip((1, 2, 3), (1280, 640, 320)) for a in range(3)])


def _unet_modules() -> list[tuple[str, int, int]]:
    modules = []
    for kind, block, attention, width in _UNET_BLOCKS:
        prefix = f"lora_unet_{kind}_" + (f"{block}_" if block is not None else "") + f"attentions_{attention}"
        stem = f"{prefix}_transformer_blocks_0"
        modules += [(f"{stem}_attn1_to_{p}", width, width) for p in ("q", "k", "v")]
        modules += [(f"{stem}_attn1_to_out_0", width, width), (f"{stem}_attn2_to_q", width, width)]
        modules += [(f"{stem}_attn2_to_{p}", 768, width) for p in ("k", "v")]
        modules += [(f"{stem}_attn2_to_out_0", width, width), (f"{stem}_ff_net_0_proj", width, 8 * width),
                    (f"{stem}_ff_net_2", 4 * width, width), (f"{prefix}_proj_in", width, width),
                    (f"{prefix}_proj_out", width, width)]
    return modules


def _text_modules() -> list[tuple[str, int, int]]:
    modules = []
    for layer in range(12):
        stem = f"lora_te_text_model_encoder_layers_{layer}"
        modules += [(f"{stem}_self_attn_{p}_proj", 768, 768) for p in ("q", "k", "v", "out")]
        modules += [(f"{stem}_mlp_fc1", 768, 3072), (f"{stem}_mlp_fc2", 3072, 768)]
    return modules


SD15_MODULES = _unet_modules() + _text_modules()
BYTES_PER_RANK = sum(2 * (width_in + width_out) for _, width_in, width_out in SD15_MODULES)  # fp16


def lora_tensors(target_bytes: int, seed: int = 0) -> dict:
    """A kohya SD1.5 LoRA state dict of about ``target_bytes`` (rank >= 1)."""
    import torch

    rank = max(1, round(target_bytes / BYTES_PER_RANK))
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, width_in, width_out in SD15_MODULES:
        tensors[f"{name}.lora_down.weight"] = (torch.rand(rank, width_in, generator=generator) - 0.5).half()
        tensors[f"{name}.lora_up.weight"] = torch.zeros(width_out, rank, dtype=torch.float16)
        tensors[f"{name}.alpha"] = torch.tensor(float(rank))
    return tensors


def write_lora(path: Path, target_bytes: int, seed: int = 0) -> int:
    """Write a LoRA of about ``target_bytes``; returns its file size."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(lora_tensors(target_bytes, seed), str(path), metadata={"ss_base_model_version": "sd_v1",
                                                                     "ss_output_name": path.parent.name})
    return path.stat().st_size


def write_tiny_library(root: Path, brands: int, roles: tuple[str, ...] = ("style", "product", "photography")) -> None:
    """``brands`` brand folders with one tiny file per role and a metadata.json (for listing speed)."""
    from safetensors.torch import save_file

    tensors = lora_tensors(1)  # rank 1: ~1 MB; copied by bytes, not re-serialised per file
    template = root / ".template.safetensors"
    root.mkdir(parents=True, exist_ok=True)
    save_file({k: v for k, v in list(tensors.items())[:3]}, str(template))
    blob = template.read_bytes()
    template.unlink()
    for index in range(brands):
        folder = root / f"brand_{index:04d}"
        folder.mkdir()
        for role in roles:
            (folder / f"{role}.safetensors").write_bytes(blob)
        (folder / "metadata.json").write_text(json.dumps({"description": f"brand {index}"}))
