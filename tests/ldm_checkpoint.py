"""Write a tiny single-file checkpoint in the original LDM key layout (what ComfyUI's checkpoint list holds),
from a tiny diffusers model: the inverse of diffusers' converters, for testing our single-file loader.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from comfyui_lora_lab.engines.lora_format import module_names

VAE_RULES = [  # (diffusers regex, LDM replacement) applied in order to VAE keys
    (r"^(encoder|decoder)\.mid_block\.resnets\.(\d)\.", lambda m: f"{m[1]}.mid.block_{int(m[2]) + 1}."),
    (r"^(encoder|decoder)\.mid_block\.attentions\.0\.group_norm\.", r"\1.mid.attn_1.norm."),
    (r"^(encoder|decoder)\.mid_block\.attentions\.0\.to_(q|k|v)\.", r"\1.mid.attn_1.\2."),
    (r"^(encoder|decoder)\.mid_block\.attentions\.0\.to_out\.0\.", r"\1.mid.attn_1.proj_out."),
    (r"^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.", r"encoder.down.\1.block.\2."),
    (r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.", r"encoder.down.\1.downsample.conv."),
    (r"^(encoder|decoder)\.conv_norm_out\.", r"\1.norm_out."),
    (r"\.conv_shortcut\.", ".nin_shortcut."),
]


def _vae_key(key: str, levels: int) -> str:
    match = re.match(r"^decoder\.up_blocks\.(\d+)\.(resnets\.(\d+)|upsamplers\.0\.conv)\.", key)
    if match:
        level = levels - 1 - int(match[1])
        inner = f"block.{match[3]}" if match[3] is not None else "upsample.conv"
        key = f"decoder.up.{level}.{inner}." + key[match.end():]
    for pattern, replacement in VAE_RULES:
        key = re.sub(pattern, replacement, key)
    return key


def _unet_key(key: str) -> str:
    path, _, leaf = key.rpartition(".")
    native = module_names.diffusers_to_native(path, "sd15")
    assert native is not None, key
    return f"{native}.{leaf}"


def write_ldm_checkpoint(diffusers_folder: Path, target: Path, config_dir: Path) -> Path:
    """Convert ``diffusers_folder`` (a tiny SD1.5-structured model) into one LDM-layout .safetensors,
    and write the matching diffusers configs (unet/vae/text_encoder/scheduler .json) into ``config_dir``."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel.from_pretrained(diffusers_folder, subfolder="unet")
    vae = AutoencoderKL.from_pretrained(diffusers_folder, subfolder="vae")
    text = CLIPTextModel.from_pretrained(diffusers_folder / "text_encoder")
    tensors = {f"model.diffusion_model.{_unet_key(k)}": v for k, v in unet.state_dict().items()}
    levels = len(vae.config.block_out_channels)
    for key, value in vae.state_dict().items():
        if "mid_block.attentions.0.to_" in key and key.endswith("weight"):
            value = value[:, :, None, None]  # LDM keeps the VAE attention projections as 1x1 convs
        tensors[f"first_stage_model.{_vae_key(key, levels)}"] = value
    for key, value in text.state_dict().items():
        prefix = "" if key.startswith("text_model.") else "text_model."
        tensors[f"cond_stage_model.transformer.{prefix}{key}"] = value
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(target))
    config_dir.mkdir(parents=True, exist_ok=True)
    for name, config in (("unet", dict(unet.config)), ("vae", dict(vae.config))):
        (config_dir / f"{name}.json").write_text(json.dumps(config, default=lambda v: list(v) if isinstance(v, tuple) else str(v)))
    text_config = dict(text.config.to_dict(), architectures=["CLIPTextModel"])
    (config_dir / "text_encoder.json").write_text(json.dumps(text_config, default=str))
    scheduler = json.loads((diffusers_folder / "scheduler" / "scheduler_config.json").read_text())
    (config_dir / "scheduler.json").write_text(json.dumps(scheduler))
    return target
