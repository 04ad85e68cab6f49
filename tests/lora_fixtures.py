"""Real LoRA tensors for tests: small, but with the key names and shapes real files have."""

from __future__ import annotations

import torch

SD15_TE_MODULES = [f"text_model_encoder_layers_{i}_self_attn_{p}" for i in range(2) for p in ("q_proj", "v_proj")]
SD15_UNET_MODULES = ["down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k",
                     "down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"]


def kohya_sd15_tensors(rank: int = 4, alpha: float = 2.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """A small kohya SD1.5 LoRA with real SD1.5 shapes (CLIP-L width 768, UNet level-0 width 320)."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name in SD15_TE_MODULES:
        tensors[f"lora_te_{name}.lora_down.weight"] = torch.randn(rank, 768, generator=generator)
        tensors[f"lora_te_{name}.lora_up.weight"] = torch.randn(768, rank, generator=generator)
        tensors[f"lora_te_{name}.alpha"] = torch.tensor(alpha)
    for name in SD15_UNET_MODULES:
        width_in = 768 if name.endswith("attn2_to_k") else 320
        tensors[f"lora_unet_{name}.lora_down.weight"] = torch.randn(rank, width_in, generator=generator)
        tensors[f"lora_unet_{name}.lora_up.weight"] = torch.randn(320, rank, generator=generator)
        tensors[f"lora_unet_{name}.alpha"] = torch.tensor(alpha)
    return tensors
