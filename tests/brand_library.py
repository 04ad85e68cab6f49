"""Brand folders with real (small) safetensors LoRAs for the brand tests, and a plain-torch applier.

The applier stands in for ComfyUI's ``load_lora_for_models`` (which the integration tests use for real):
it adds ``weight * up @ down * alpha / rank`` to the matching weight of a dict "model", returns a new dict
(inputs untouched) and counts matched/unmatched keys the way ``bridge.lora_apply`` reports them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from lora_fixtures import SD15_TE_MODULES, SD15_UNET_MODULES, kohya_sd15_tensors


def write_lora(path: Path, seed: int = 0, metadata: dict | None = None, rank: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"ss_base_model_version": "sd_v1", "ss_output_name": path.stem, **(metadata or {})}
    save_file(kohya_sd15_tensors(rank=rank, seed=seed), str(path), metadata=meta)
    return path


def write_sdxl_lora(path: Path) -> Path:
    tensors = {}
    for layer in range(2):
        stem = f"lora_te2_text_model_encoder_layers_{layer}_self_attn_q_proj"
        tensors[f"{stem}.lora_down.weight"] = torch.zeros(4, 1280)
        tensors[f"{stem}.lora_up.weight"] = torch.zeros(1280, 4)
        tensors[f"{stem}.alpha"] = torch.tensor(4.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"ss_base_model_version": "sdxl_base_v1-0"})
    return path


def make_brand(root: Path, brand_id: str, files: dict[str, int] | None = None, metadata: dict | None = None) -> Path:
    """``files``: relative file name -> seed (default: one ``style.safetensors``)."""
    folder = root / brand_id
    folder.mkdir(parents=True, exist_ok=True)
    for relative, seed in (files or {"style.safetensors": 0}).items():
        write_lora(folder / relative, seed)
    if metadata is not None:
        (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder


def sd15_model() -> dict[str, torch.Tensor]:
    """The weights the small test LoRAs target, by kohya module name."""
    model = {f"lora_te_{name}": torch.zeros(768, 768) for name in SD15_TE_MODULES}
    for name in SD15_UNET_MODULES:
        model[f"lora_unet_{name}"] = torch.zeros(320, 768 if name.endswith("attn2_to_k") else 320)
    return model


def torch_applier(model, clip, tensors, strength_model, strength_clip):
    """Apply a kohya LoRA to a dict model (text-encoder keys with the clip strength); never mutates inputs.

    One torch thread: these small products are 50x slower on two threads when the machine is busy.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _apply(model, clip, tensors, strength_model, strength_clip)
    finally:
        torch.set_num_threads(threads)


def _apply(model, clip, tensors, strength_model, strength_clip):
    new = dict(model)
    matched, unmatched = 0, []
    for key in tensors:
        module, _, suffix = key.partition(".")
        if module not in new:
            unmatched.append(key)
            continue
        matched += 1
        if suffix == "lora_down.weight":
            down, up = tensors[key], tensors[f"{module}.lora_up.weight"]
            alpha = float(tensors.get(f"{module}.alpha", torch.tensor(down.shape[0])))
            strength = strength_clip if module.startswith("lora_te") else strength_model
            new[module] = new[module] + strength * (up @ down) * alpha / down.shape[0]
    return new, clip, {"file_keys": len(tensors), "matched_keys": matched, "unmatched_keys": len(unmatched),
                       "unmatched_examples": unmatched[:5]}
