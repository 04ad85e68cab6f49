"""The memory preflight's estimate against the measured peak of real CPU training runs (``bench trainer --memory``).

A small SD1.5-shaped model (4 levels, attention on the first three, 64-256 channels, a 4-layer CLIP) is
written with random weights; each configuration is estimated (``engines/training/memory``, nothing loaded)
and then trained for 2 steps in a fresh process that records its resident set after importing torch,
diffusers, transformers and PEFT (the baseline) and its peak at the end (``ru_maxrss``). The measured
figure is peak minus baseline: what the run added, which is what the estimate covers. Configurations vary
batch, resolution, rank, gradient checkpointing and sampling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CONFIGS = (
    dict(rank=8, resolution=256, batch_size=2),
    dict(rank=8, resolution=384, batch_size=2, gradient_checkpointing=True),
    dict(rank=8, resolution=256, batch_size=1, sample_steps=4),
    dict(rank=32, resolution=256, batch_size=4),
)
COMMON = dict(max_steps=2, sample_steps=0, save_every=0, trigger_word="lorasks")
IMAGES = 8
SMALL_UNET = dict(sample_size=32, block_out_channels=(64, 128, 256, 256), layers_per_block=2, cross_attention_dim=256,
                  attention_head_dim=8, norm_num_groups=32)
SMALL_VAE = dict(block_out_channels=(32, 64, 128, 128), down_block_types=("DownEncoderBlock2D",) * 4,
                 up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=1, norm_num_groups=32)
SMALL_CLIP = dict(vocab_size=49408, hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                  max_position_embeddings=77, projection_dim=256, bos_token_id=49406, eos_token_id=49407,
                  pad_token_id=49407)

MEASURE = '''
import json, resource, sys
import torch, diffusers, transformers, peft, safetensors  # the baseline: what every run imports first
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel  # noqa: F401
from transformers import CLIPTextModel  # noqa: F401
from {package}.engines.training.config import TrainingConfig
from {package}.engines.training.job import TrainingJob
from {package}.engines.training.trainer import Trainer
torch.set_num_threads(1)
spec = json.loads(sys.argv[1])
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
job = TrainingJob(spec["data"], spec["model"], "estimate", TrainingConfig.for_family("sd15", **spec["config"]),
                  spec["out"], spec["out"] + "/run", overwrite=True)
Trainer(job, log=lambda message: None).run()
print(json.dumps({{"baseline_kb": baseline, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
'''


def write_small_model(folder: Path) -> Path:
    """A random SD1.5-shaped diffusers folder big enough that tensors, not the interpreter, fill the memory."""
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from ..engines.tokenizers import clip_tokenizer
    from ..engines.training.tiny import SD_SCHEDULER

    torch.manual_seed(0)
    UNet2DConditionModel(**SMALL_UNET).save_pretrained(folder / "unet")
    AutoencoderKL(**SMALL_VAE).save_pretrained(folder / "vae")
    CLIPTextModel(CLIPTextConfig(**SMALL_CLIP)).save_pretrained(folder / "text_encoder")
    DDPMScheduler(**SD_SCHEDULER).save_pretrained(folder / "scheduler")
    clip_tokenizer().save_pretrained(folder / "tokenizer")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}), encoding="utf-8")
    return folder


def measured_peak(model: Path, data: Path, config: dict, out: Path) -> int:
    """Bytes a real 2-step run added to its process's resident set (peak minus the post-import baseline)."""
    spec = {"config": config, "data": str(data), "model": str(model), "out": str(out)}
    code = MEASURE.format(package=__package__.rsplit(".", 1)[0])
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"measured run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return (figures["peak_kb"] - figures["baseline_kb"]) * 1024


def compare(workdir: Path, configs=CONFIGS) -> dict:
    import torch

    from ..engines.training.config import TrainingConfig
    from ..engines.training.memory import estimate_memory
    from ..engines.training.models import open_model
    from ..engines.training.tiny import make_dataset

    model = write_small_model(workdir / "small_model")
    data = make_dataset(workdir / "data", count=IMAGES, size=256, trigger="lorasks", seed=0)
    rows = []
    for index, settings in enumerate(configs):
        config = dict(COMMON, **settings)
        estimate = estimate_memory(open_model(model), TrainingConfig.for_family("sd15", **config), IMAGES, "cpu",
                                   torch.float32)
        measured = measured_peak(model, data, config, workdir / f"run{index}")
        rows.append({"config": settings, "estimate_mb": round(estimate.peak / 2**20, 1),
                     "measured_mb": round(measured / 2**20, 1), "phases_mb": {
                         k: round(v / 2**20, 1) for k, v in estimate.phases.items()},
                     "relative_error": round(estimate.peak / measured - 1, 3)})
    return {"memory_configs": rows,
            "memory_configs_within_25pct": sum(abs(row["relative_error"]) <= 0.25 for row in rows),
            "memory_max_relative_error": max(abs(row["relative_error"]) for row in rows)}
