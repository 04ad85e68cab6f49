"""Sample images during training (the seed's "test scene"): at step 0 as a baseline, and at the end.

The pipeline is assembled from the parts already in memory (the UNet with its LoRA layers, VAE, text
encoders) with a DDIM scheduler made from the model's own scheduler config, and a fixed seed, so the
step-0 and final images differ only by what the LoRA learned.
"""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = "samples"


def build_pipeline(family: str, unet, vae, text_encoders: list, tokenizers: list, scheduler_config: dict):
    from diffusers import DDIMScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

    scheduler = DDIMScheduler.from_config(scheduler_config)
    if family == "sdxl":
        pipeline = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoders[0], text_encoder_2=text_encoders[1],
                                             tokenizer=tokenizers[0], tokenizer_2=tokenizers[1], unet=unet,
                                             scheduler=scheduler)
    else:
        pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoders[0], tokenizer=tokenizers[0], unet=unet,
                                           scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                           requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def sample_paths(run_dir: Path, step: int, count: int) -> list[Path]:
    return [Path(run_dir) / SAMPLES_DIR / f"step-{step:07d}-{index}.png" for index in range(count)]


def generate(pipeline, prompts: list[str], size: int, steps: int, seed: int, run_dir: Path, step: int,
             device) -> list[Path]:
    """One image per prompt at ``size`` x ``size``; written as PNGs under ``samples/``; returns the paths."""
    import torch

    paths = sample_paths(run_dir, step, len(prompts))
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for prompt, path in zip(prompts, paths):
        generator = torch.Generator("cpu").manual_seed(seed)
        with torch.no_grad():
            image = pipeline(prompt, height=size, width=size, num_inference_steps=steps, guidance_scale=7.0,
                             generator=generator, output_type="pil").images[0]
        temp = path.with_name(f".{path.name}.tmp.png")
        image.save(temp)
        temp.replace(path)
    return paths
