"""Write the trained LoRA: kohya layout, the kohya ``ss_*`` training keys, ``modelspec.*`` with the trigger.

The kohya minimum (``ss_v2``, ``ss_base_model_version``, ``ss_network_module``/``dim``/``alpha``/``args``)
plus what the training knew (steps, epoch, learning rate, image count, tag frequency, batch sizes,
seed, ...) so LoRA managers, A1111/Forge and ``lora-lab inspect`` can show how it was made.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from ..lora_format import LoraDescription, LoraWeights, save_lora, tensor_sha256
from .config import TrainingConfig
from .job import RunSummary, TrainingJob
from .preflight import PreflightReport


def describe(job: TrainingJob, config: TrainingConfig, summary: RunSummary, report: PreflightReport, steps: int,
             epoch: int, started_at: float, extra: dict | None = None) -> LoraDescription:
    """The metadata of a trained LoRA (every value stringified later by ``build_metadata``)."""
    tags = report.tag_frequency()
    network_args = {"targets": list(config.unet_targets)}
    if config.train_text_encoder:
        network_args["text_targets"] = list(config.text_targets)
    ss = {
        "ss_network_args": json.dumps(network_args),
        "ss_session_id": str(int(started_at * 1000) % 2**31),
        "ss_training_started_at": str(int(started_at)),
        "ss_steps": steps, "ss_epoch": epoch, "ss_num_epochs": summary.epochs, "ss_max_train_steps": summary.total_steps,
        "ss_learning_rate": config.learning_rate, "ss_unet_lr": config.learning_rate,
        "ss_text_encoder_lr": (config.text_encoder_lr or config.learning_rate) if config.train_text_encoder else 0,
        "ss_num_train_images": summary.samples_per_epoch, "ss_num_reg_images": 0,
        "ss_num_batches_per_epoch": summary.steps_per_epoch, "ss_batch_size_per_device": summary.per_device_batch,
        "ss_total_batch_size": summary.effective_batch, "ss_gradient_accumulation_steps": config.gradient_accumulation,
        "ss_resolution": f"({config.resolution}, {config.resolution})", "ss_enable_bucket": config.buckets,
        "ss_seed": config.seed, "ss_mixed_precision": summary.precision, "ss_optimizer": config.optimizer,
        "ss_lr_scheduler": config.lr_scheduler, "ss_lr_warmup_steps": config.warmup_steps,
        "ss_max_grad_norm": config.max_grad_norm, "ss_noise_offset": config.noise_offset,
        "ss_gradient_checkpointing": config.gradient_checkpointing, "ss_cache_latents": config.cache_latents,
        "ss_clip_skip": 2 if config.family == "sdxl" else 1, "ss_network_dropout": "None",
        "ss_tag_frequency": json.dumps(tags, sort_keys=True), "ss_dataset_dirs": json.dumps(_dataset_dirs(report)),
        "ss_sd_model_name": job.model.name, "ss_training_comment": f"trained with comfyui-lora-lab ({summary.engine})",
        "modelspec.resolution": f"{config.resolution}x{config.resolution}",
    }
    ss.update(extra or {})
    return LoraDescription(
        title=job.name, family=config.family, rank=config.rank, alpha=config.effective_alpha,
        trigger_phrase=config.trigger_word, description=f"LoRA trained on {summary.images} images from {job.dataset.name}",
        extra_ss=ss, lab={"engine": summary.engine, "training_config": config.to_dict(),
                          "processes": summary.processes, "dataset": str(job.dataset)},
    )


def _dataset_dirs(report: PreflightReport) -> dict:
    """kohya's per-folder repeat and image counts."""
    dirs: dict[str, dict] = {}
    for item in report.items:
        entry = dirs.setdefault(item.subset.name, {"n_repeats": item.subset.repeats, "img_count": 0})
        entry["img_count"] += 1
    return dirs


def save_trained_lora(path: Path, weights: LoraWeights, description: LoraDescription, overwrite: bool) -> Path:
    """Atomic save in the kohya layout; adds kohya's ``sshs_model_hash`` (sha256 of the tensor data)."""
    from ..lora_format.layouts import render

    tensors = render(weights, "kohya", description.family)
    model_hash = tensor_sha256(tensors).removeprefix("0x")
    return save_lora(path, weights, description, overwrite=overwrite,
                     extra_metadata={"sshs_model_hash": model_hash,
                                     "ss_training_finished_at": str(int(_dt.datetime.now().timestamp()))})


def import_external_lora(source: Path, target: Path, description: LoraDescription, overwrite: bool) -> Path:
    """Copy a LoRA another trainer wrote into place atomically, keeping its keys and ``ss_*`` metadata and
    adding what it lacks (``modelspec.*`` with the trigger phrase, our ``lora_lab.*`` keys, missing ``ss_*``)."""
    from ..lora_format import build_metadata, load_tensors, save_tensors

    tensors, theirs = load_tensors(source)
    ours = build_metadata(description, tensors)
    merged = dict(theirs)
    for key, value in ours.items():
        if key.startswith(("modelspec.", "lora_lab.")) or key not in merged:
            merged[key] = value
    merged["sshs_model_hash"] = ours["modelspec.hash_sha256"].removeprefix("0x")
    return save_tensors(target, tensors, merged, overwrite=overwrite)
