"""Small text encoders and UNets built from configs with random weights, for demos, tests and benchmarks.

Nothing here downloads anything. Shapes follow the real architectures (CLIP text model, SD UNet) so key
names and code paths are the real ones; ``CLIP_L_CONFIG`` has SD1.5's real CLIP-L dimensions.
"""

from __future__ import annotations

TINY_CLIP_CONFIG = dict(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                        projection_dim=32, bos_token_id=0, eos_token_id=2, pad_token_id=1)

CLIP_L_CONFIG = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                     num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                     projection_dim=768, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)

TINY_UNET_CONFIG = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                        attention_head_dim=8, norm_num_groups=8)


def clip_text_model(config: dict | None = None, seed: int = 0):
    """A transformers ``CLIPTextModel`` with random weights (tiny by default)."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    return CLIPTextModel(CLIPTextConfig(**(config or TINY_CLIP_CONFIG))).eval()


def unet(config: dict | None = None, seed: int = 0):
    """A diffusers ``UNet2DConditionModel`` with random weights (tiny by default)."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(**(config or TINY_UNET_CONFIG)).eval()
