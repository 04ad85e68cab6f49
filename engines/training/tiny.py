"""Tiny SD-style models saved in diffusers format, and a generated image+caption dataset, for demos,
tests and benchmarks. Nothing is downloaded: weights are random (seeded), the tokenizer is the real CLIP
BPE built offline, and the block layout follows SD1.5 (4 levels, attention on the first three) and
SDXL (3 levels, attention on the last two) so key names and conversions are the real ones.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

TINY_SD15_UNET = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=2,
                      block_out_channels=(32, 32, 64, 64),
                      down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                      up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                      cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)
TINY_SDXL_UNET = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=2,
                      block_out_channels=(32, 32, 64), down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 2,
                      up_block_types=("CrossAttnUpBlock2D",) * 2 + ("UpBlock2D",), attention_head_dim=(2, 4, 4),
                      use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
                      transformer_layers_per_block=(1, 1, 1), projection_class_embeddings_input_dim=80,
                      cross_attention_dim=64, norm_num_groups=8)
TINY_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
                block_out_channels=(8, 8, 16, 16), down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64)
TINY_CLIP = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=32, bos_token_id=49406,
                 eos_token_id=49407, pad_token_id=49407)
SD_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                    prediction_type="epsilon", steps_offset=1, clip_sample=False)


def write_tiny_model(folder: str | os.PathLike[str], family: str = "sd15", seed: int = 0,
                     with_tokenizer: bool = True) -> Path:
    """Save a random tiny SD1.5- or SDXL-structured model as a diffusers folder; return the folder."""
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = Path(folder)
    torch.manual_seed(seed)
    UNet2DConditionModel(**(TINY_SDXL_UNET if family == "sdxl" else TINY_SD15_UNET)).save_pretrained(folder / "unet")
    AutoencoderKL(**TINY_VAE).save_pretrained(folder / "vae")
    CLIPTextModel(CLIPTextConfig(**TINY_CLIP)).save_pretrained(folder / "text_encoder")
    DDPMScheduler(**SD_SCHEDULER).save_pretrained(folder / "scheduler")
    names = ["tokenizer"]
    if family == "sdxl":
        CLIPTextModelWithProjection(CLIPTextConfig(**TINY_CLIP)).save_pretrained(folder / "text_encoder_2")
        names.append("tokenizer_2")
    if with_tokenizer:
        from ..tokenizers import clip_tokenizer

        for name in names:
            clip_tokenizer().save_pretrained(folder / name)
    pipeline = "StableDiffusionXLPipeline" if family == "sdxl" else "StableDiffusionPipeline"
    (folder / "model_index.json").write_text(json.dumps({"_class_name": pipeline}), encoding="utf-8")
    return folder


SUBJECTS = ("red square", "blue circle", "green triangle", "yellow square", "purple circle", "orange triangle")


def make_dataset(folder: str | os.PathLike[str], count: int = 16, size: int = 64, trigger: str = "lorasks",
                 seed: int = 0, metadata_jsonl: bool = False, captions: bool = True) -> Path:
    """Write ``count`` seeded PNGs (a coloured shape on a background) with ``.txt`` captions naming the trigger.

    With ``metadata_jsonl`` a diffusers imagefolder ``metadata.jsonl`` (``file_name``, ``text``) is written too.
    """
    from PIL import Image, ImageDraw

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    records = []
    for index in range(count):
        subject = SUBJECTS[index % len(SUBJECTS)]
        color, shape = subject.split()
        image = Image.new("RGB", (size, size), tuple(rng.randrange(40, 216) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        box = sorted(rng.sample(range(size), 2))
        box = [box[0] // 2, box[0] // 2, max(box[1], box[0] // 2 + 8), max(box[1], box[0] // 2 + 8)]
        {"square": draw.rectangle, "circle": draw.ellipse}.get(shape, draw.polygon)(
            box if shape != "triangle" else [(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])],
            fill=color)
        name = f"img_{index:03d}.png"
        image.save(folder / name)
        text = f"{trigger}, a {subject} on a plain background"
        if captions:
            (folder / name).with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
        records.append({"file_name": name, "text": text})
    if metadata_jsonl:
        (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return folder
