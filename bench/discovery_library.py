"""Synthetic LoRA files with realistic headers and sidecars, for the discovery benchmark, demo and tests.

Headers carry the real key names and shapes of kohya / PEFT LoRAs for SD1.5, SDXL, SD3 and Flux (an SDXL
LoRA header is ~300 KB), realistic ``ss_*`` / ``modelspec.*`` metadata and ``ss_tag_frequency`` of the
requested size. The tensor data is a sparse hole (``truncate``), so 10,000 files of realistic size cost
only their headers on disk, and the headers validate (offsets match the file size). ``write_real_lora``
writes a small loadable SD1.5 LoRA with real tensors for runs inside ComfyUI.
"""

from __future__ import annotations

import functools
import json
import os
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4}


def _sd15_modules(text: bool = True, unet_ff: bool = True) -> list[tuple[str, int, int]]:
    modules = []
    if text:
        for i in range(12):
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                modules.append((f"lora_te_text_model_encoder_layers_{i}_self_attn_{proj}", 768, 768))
            modules += [(f"lora_te_text_model_encoder_layers_{i}_mlp_fc1", 768, 3072),
                        (f"lora_te_text_model_encoder_layers_{i}_mlp_fc2", 3072, 768)]
    blocks = [(f"down_blocks_{lvl}_attentions_{j}", w) for lvl, w in ((0, 320), (1, 640), (2, 1280)) for j in range(2)]
    blocks += [("mid_block_attentions_0", 1280)]
    blocks += [(f"up_blocks_{lvl}_attentions_{j}", w) for lvl, w in ((1, 1280), (2, 640), (3, 320)) for j in range(3)]
    for block, width in blocks:
        stem = f"lora_unet_{block}_transformer_blocks_0"
        for attn in ("attn1", "attn2"):
            for proj in ("to_q", "to_k", "to_v", "to_out_0"):
                width_in = 768 if attn == "attn2" and proj in ("to_k", "to_v") else width
                modules.append((f"{stem}_{attn}_{proj}", width_in, width))
        if unet_ff:
            modules += [(f"{stem}_ff_net_0_proj", width, width * 8), (f"{stem}_ff_net_2", width * 4, width)]
    return modules


def _sdxl_modules(text: bool = True) -> list[tuple[str, int, int]]:
    modules = []
    if text:
        for prefix, layers, width in (("lora_te1", 12, 768), ("lora_te2", 32, 1280)):
            for i in range(layers):
                for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                    modules.append((f"{prefix}_text_model_encoder_layers_{i}_self_attn_{proj}", width, width))
    blocks = [(f"input_blocks_{b}_1", 640, 2) for b in (4, 5)] + [(f"input_blocks_{b}_1", 1280, 10) for b in (7, 8)]
    blocks += [("middle_block_1", 1280, 10)]
    blocks += [(f"output_blocks_{b}_1", 1280, 10) for b in (0, 1, 2)] + [(f"output_blocks_{b}_1", 640, 2) for b in (3, 4, 5)]
    for block, width, depth in blocks:
        for d in range(depth):
            stem = f"lora_unet_{block}_transformer_blocks_{d}"
            for attn in ("attn1", "attn2"):
                for proj in ("to_q", "to_k", "to_v", "to_out_0"):
                    width_in = 2048 if attn == "attn2" and proj in ("to_k", "to_v") else width
                    modules.append((f"{stem}_{attn}_{proj}", width_in, width))
    return modules


def _flux_modules() -> list[tuple[str, int, int]]:
    modules = []
    for i in range(19):
        for part, w_in, w_out in (("img_attn_qkv", 3072, 9216), ("img_attn_proj", 3072, 3072), ("img_mlp_0", 3072, 12288),
                                  ("img_mlp_2", 12288, 3072), ("txt_attn_qkv", 3072, 9216), ("txt_attn_proj", 3072, 3072)):
            modules.append((f"lora_unet_double_blocks_{i}_{part}", w_in, w_out))
    for i in range(38):
        modules += [(f"lora_unet_single_blocks_{i}_linear1", 3072, 21504), (f"lora_unet_single_blocks_{i}_linear2", 15360, 3072)]
    return modules


def _flux_peft_modules() -> list[tuple[str, int, int]]:
    return [(f"transformer.single_transformer_blocks.{i}.attn.{p}", 3072, 3072)
            for i in range(38) for p in ("to_q", "to_k", "to_v")]


def _sd3_modules() -> list[tuple[str, int, int]]:
    return [(f"lora_unet_joint_blocks_{i}_{side}_attn_{p}", 1536, 1536 * (3 if p == "qkv" else 1))
            for i in range(24) for side in ("x_block", "context_block") for p in ("qkv", "proj")]


ARCHITECTURES = {  # name -> (family, module list builder, peft naming)
    "sd15_full": ("sd15", lambda: _sd15_modules(), False),
    "sd15_attn": ("sd15", lambda: _sd15_modules(text=False, unet_ff=False), False),
    "sdxl_full": ("sdxl", lambda: _sdxl_modules(), False),
    "sdxl_unet": ("sdxl", lambda: _sdxl_modules(text=False), False),
    "flux_kohya": ("flux", _flux_modules, False),
    "flux_peft": ("flux", _flux_peft_modules, True),
    "sd3_kohya": ("sd3", _sd3_modules, False),
}
_MODULE_CACHE: dict[str, list] = {}


def arch_modules(arch: str) -> list[tuple[str, int, int]]:
    if arch not in _MODULE_CACHE:
        _MODULE_CACHE[arch] = ARCHITECTURES[arch][1]()
    return _MODULE_CACHE[arch]


@functools.lru_cache(maxsize=64)
def _tensor_table(arch: str, rank: int, dtype: str) -> tuple[str, int]:
    """The tensor entries of the header as JSON text (without braces) and the data size they declare."""
    peft = ARCHITECTURES[arch][2]
    document: dict = {}
    offset = 0
    item = DTYPE_BYTES[dtype]
    for stem, width_in, width_out in arch_modules(arch):
        parts = ((".lora_A.weight", [rank, width_in]), (".lora_B.weight", [width_out, rank])) if peft else (
            (".alpha", []), (".lora_down.weight", [rank, width_in]), (".lora_up.weight", [width_out, rank]))
        for suffix, shape in parts:
            size = (shape[0] * shape[1] if shape else 1) * (item if shape else 4)
            document[stem + suffix] = {"dtype": dtype if shape else "F32", "shape": shape,
                                       "data_offsets": [offset, offset + size]}
            offset += size
    return json.dumps(document, separators=(",", ":"))[1:-1], offset


def header_bytes(arch: str, rank: int, metadata: dict[str, str], dtype: str = "F16") -> tuple[bytes, int]:
    """(the serialized header, the data size it declares) for a LoRA of ``arch`` with real key names and shapes."""
    table, data_size = _tensor_table(arch, rank, dtype)
    head = '{"__metadata__":' + json.dumps(metadata, separators=(",", ":")) + "," if metadata else "{"
    raw = (head + table + "}").encode("utf-8")
    return raw + b" " * (-len(raw) % 8), data_size


def write_header_file(path: Path, arch: str, rank: int, metadata: dict[str, str], dtype: str = "F16") -> int:
    """A valid safetensors file whose tensor data is a sparse hole; returns the header length."""
    raw, data_size = header_bytes(arch, rank, metadata, dtype)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        handle.truncate(8 + len(raw) + data_size)
    return len(raw)


def tag_frequency(rng: random.Random, folder: str, tags: list[str], target_bytes: int) -> str:
    """``ss_tag_frequency`` JSON of about ``target_bytes``: the given tags first, then caption filler."""
    counts = {tag: rng.randint(40, 60) for tag in tags}
    filler = ["1girl", "solo", "looking at viewer", "smile", "outdoors", "simple background", "long hair", "sky",
              "standing", "upper body", "day", "tree", "building", "water", "holding", "flower", "grass", "cloud"]
    index, size = 0, len(json.dumps(counts))
    while size < target_bytes:
        word = filler[index % len(filler)] if index < len(filler) else f"{rng.choice(filler)} {index}"
        if word not in counts:
            counts[word] = rng.randint(1, 30)
            size += len(word) + 8
        index += 1
    return json.dumps({folder: counts})


@dataclass
class Sidecars:
    """Sidecar records to write next to a file (each None = absent)."""

    civitai: dict | None = None
    lora_manager: dict | None = None
    rgthree: dict | None = None
    a1111: dict | None = None
    raw: dict[str, bytes] = field(default_factory=dict)  # extra files by suffix, e.g. broken JSON


def write_sidecars(path: Path, sidecars: Sidecars) -> None:
    stem = path.with_suffix("")
    files = {f"{stem}.civitai.info": sidecars.civitai, f"{stem}.metadata.json": sidecars.lora_manager,
             f"{path}.rgthree-info.json": sidecars.rgthree, f"{stem}.json": sidecars.a1111}
    for name, record in files.items():
        if record is not None:
            Path(name).write_text(json.dumps(record))
    for suffix, data in sidecars.raw.items():
        Path(f"{stem}{suffix}").write_bytes(data)


def civitai_record(name: str, base_model: str, trained_words: list[str], tags: list[str], prompts: list[str],
                   description: str = "") -> dict:
    """The shape of a Civitai model-version record (what Civitai Helper saves as .civitai.info)."""
    return {"id": abs(hash(name)) % 10_000_000, "modelId": abs(hash(name + "m")) % 1_000_000, "name": "v1.0",
            "baseModel": base_model, "trainedWords": trained_words, "description": description,
            "model": {"name": name, "type": "LORA", "nsfw": False, "tags": tags},
            "images": [{"url": f"https://image.civitai.com/{i}.jpeg", "meta": {"prompt": p, "steps": 25, "cfgScale": 7}}
                       for i, p in enumerate(prompts)]}


def write_real_lora(path: Path, metadata: dict[str, str], rank: int = 4, seed: int = 0) -> Path:
    """A small loadable kohya SD1.5 LoRA (attention modules, real tensors) that ComfyUI applies with 0 unmatched keys."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for stem, width_in, width_out in _sd15_modules(text=True, unet_ff=False):
        tensors[f"{stem}.lora_down.weight"] = torch.randn(rank, width_in, generator=generator) * 0.01
        tensors[f"{stem}.lora_up.weight"] = torch.randn(width_out, rank, generator=generator) * 0.01
        tensors[f"{stem}.alpha"] = torch.tensor(float(rank))
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path
