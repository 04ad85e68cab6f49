"""What to train and how: a validating dataclass with per-family defaults, saved as ``training_config.json``.

Every field says why it exists (``metadata["help"]``); every rule in ``__post_init__`` names the field,
the rule and the value, so a bad CLI flag, node widget or JSON file gets the same clear message.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..common.atomic import write_json_atomic
from ..common.errors import ConfigError

CONFIG_FILE = "training_config.json"
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")
OPTIMIZERS = ("adamw", "adam", "sgd", "adamw8bit")
LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
FAMILIES = ("sd15", "sdxl", "flux")

# Defaults per base-model family (kohya/diffusers/ai-toolkit docs, research/anchors-training.md section 4).
FAMILY_DEFAULTS: dict[str, dict[str, object]] = {
    "sd15": dict(rank=16, learning_rate=1e-4, resolution=512, batch_size=1, epochs=10, gradient_checkpointing=False),
    "sdxl": dict(rank=32, learning_rate=1e-4, resolution=1024, batch_size=1, epochs=10, gradient_checkpointing=True),
    "flux": dict(rank=16, learning_rate=1e-4, resolution=512, batch_size=1, epochs=10, gradient_checkpointing=True),
}


def _help(text: str, **kw):
    return field(metadata={"help": text}, **kw)


@dataclass
class TrainingConfig:
    family: str = _help("base model family: sd15, sdxl (in-process and kohya engines) or flux (kohya, mflux)",
                        default="sd15")
    rank: int = _help("LoRA rank (dim): capacity of the adapter; 4-32 is typical", default=16)
    alpha: float | None = _help("LoRA alpha; the update is scaled by alpha/rank. None means alpha = rank (scale 1)",
                                default=None)
    epochs: int = _help("passes over the dataset (each image times its folder's repeats)", default=10)
    max_steps: int | None = _help("stop after this many optimizer steps instead of counting epochs", default=None)
    learning_rate: float = _help("optimizer learning rate for the UNet LoRA", default=1e-4)
    text_encoder_lr: float | None = _help("learning rate for the text-encoder LoRA (None: same as learning_rate)",
                                          default=None)
    train_text_encoder: bool = _help("also train a LoRA on the text encoder(s) (q/k/v/out projections)",
                                     default=False)
    batch_size: int = _help("images per step on each device (process)", default=1)
    gradient_accumulation: int = _help("micro-batches summed before each optimizer step", default=1)
    resolution: int = _help("training side length in pixels; with buckets, the pixel area resolution^2", default=512)
    buckets: bool = _help("aspect-ratio buckets: keep each image's shape instead of center-cropping squares",
                          default=True)
    bucket_step: int = _help("bucket sides are multiples of this (pixels)", default=64)
    seed: int = _help("seed for LoRA init, data order, noise and timesteps (runs are reproducible)", default=0)
    precision: str = _help("compute precision: auto (fp32 on CPU/MPS, bf16/fp16 on CUDA), fp32, fp16, bf16",
                           default="auto")
    device: str = _help("auto (inside ComfyUI: ComfyUI's device), cpu, cuda, cuda:N or mps", default="auto")
    gradient_checkpointing: bool = _help("recompute activations in backward: less memory, ~20% slower",
                                         default=False)
    cache_latents: bool = _help("encode every image with the VAE once, before training", default=True)
    cache_text_embeddings: bool = _help("encode every caption once (off when training the text encoder)",
                                        default=True)
    optimizer: str = _help("adamw, adam, sgd; adamw8bit needs bitsandbytes (kohya engine)", default="adamw")
    lr_scheduler: str = _help("constant, constant_with_warmup, linear or cosine", default="constant")
    warmup_steps: int = _help("learning-rate warm-up steps", default=0)
    max_grad_norm: float = _help("clip the gradient norm to this (0 disables)", default=1.0)
    noise_offset: float = _help("add this much per-channel offset noise (brighter/darker images)", default=0.0)
    quantize: int | None = _help("quantise the base model to this many bits (mflux: 3-8; not in-process)",
                                 default=None)
    unet_targets: tuple[str, ...] = _help("UNet modules that get a LoRA",
                                          default=("to_q", "to_k", "to_v", "to_out.0"))
    text_targets: tuple[str, ...] = _help("text-encoder modules that get a LoRA",
                                          default=("q_proj", "k_proj", "v_proj", "out_proj"))
    save_every: int = _help("save a resumable state every N steps (0: only at the end or on interrupt)",
                            default=50)
    keep_states: int = _help("how many resumable states to keep", default=2)
    sample_prompts: tuple[str, ...] = _help("prompts for the step-0 and final samples (empty: the first caption)",
                                            default=())
    sample_steps: int = _help("denoising steps per sample image (0 disables samples)", default=20)
    sample_every: int = _help("also sample every N steps (0: only at step 0 and at the end)", default=0)
    sample_resolution: int | None = _help("sample side length (None: the training resolution)", default=None)
    trigger_word: str = _help("the word that calls the LoRA; [trigger] in captions is replaced by it", default="")
    caption_template: str = _help("caption written for images without one, e.g. 'a photo of [trigger]'",
                                  default="")

    def __post_init__(self) -> None:
        self.unet_targets = tuple(self.unet_targets)
        self.text_targets = tuple(self.text_targets)
        self.sample_prompts = tuple(self.sample_prompts)
        for check in _CHECKS:
            message = check(self)
            if message:
                raise ConfigError(message)

    @classmethod
    def for_family(cls, family: str, **overrides) -> TrainingConfig:
        """Defaults for ``family`` (sd15, sdxl, flux), then ``overrides`` (None values mean 'use the default')."""
        if family not in FAMILY_DEFAULTS:
            raise ConfigError(f"family: expected one of {', '.join(FAMILIES)}, got {family!r}")
        values = dict(FAMILY_DEFAULTS[family], family=family)
        values.update({key: value for key, value in overrides.items() if value is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    @property
    def effective_alpha(self) -> float:
        return float(self.rank if self.alpha is None else self.alpha)

    def to_dict(self) -> dict:
        data = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @classmethod
    def from_dict(cls, data: dict) -> TrainingConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown setting(s) in training config: {', '.join(sorted(unknown))}")
        return cls(**data)

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``training_config.json`` into ``folder`` atomically."""
        path = Path(folder) / CONFIG_FILE
        write_json_atomic(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainingConfig:
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the training config ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        return cls.from_dict(data)


def _choice(name: str, options: tuple[str, ...]):
    return lambda c: None if getattr(c, name) in options else (
        f"{name}: expected one of {', '.join(options)}, got {getattr(c, name)!r}")


def _at_least(name: str, low: float, optional: bool = False):
    def check(c) -> str | None:
        value = getattr(c, name)
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
            return f"{name}: must be a number >= {low}, got {value!r}"
        return None
    return check


def _positive(name: str, optional: bool = False):
    def check(c) -> str | None:
        value = getattr(c, name)
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            return f"{name}: must be a number > 0, got {value!r}"
        return None
    return check


def _integer(name: str, low: int, high: int, optional: bool = False):
    def check(c) -> str | None:
        value = getattr(c, name)
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"{name}: must be an integer from {low} to {high}, got {value!r}"
        return None
    return check


def _resolution_multiple(c) -> str | None:
    if c.resolution % 8:
        return f"resolution: must be a multiple of 8 (the VAE downsamples by 8), got {c.resolution}"
    if c.bucket_step % 8:
        return f"bucket_step: must be a multiple of 8, got {c.bucket_step}"
    return None


def _targets(c) -> str | None:
    if not c.unet_targets or not all(isinstance(t, str) and t for t in c.unet_targets):
        return f"unet_targets: expected module names like 'to_q', got {list(c.unet_targets)!r}"
    return None


def _device(c) -> str | None:
    if c.device in DEVICES or re.fullmatch(r"cuda:\d{1,2}", str(c.device)):
        return None
    return f"device: expected one of {', '.join(DEVICES)} or cuda:N, got {c.device!r}"


_CHECKS = (
    _choice("family", FAMILIES), _integer("rank", 1, 1024), _positive("alpha", optional=True),
    _integer("epochs", 1, 100_000), _integer("max_steps", 1, 10_000_000, optional=True),
    _positive("learning_rate"), _positive("text_encoder_lr", optional=True), _integer("batch_size", 1, 4096),
    _integer("gradient_accumulation", 1, 1024), _integer("resolution", 16, 4096), _integer("bucket_step", 8, 512),
    _resolution_multiple, _integer("seed", 0, 2**63 - 1), _choice("precision", PRECISIONS),
    _device, _choice("optimizer", OPTIMIZERS), _choice("lr_scheduler", LR_SCHEDULERS),
    _integer("warmup_steps", 0, 10_000_000), _at_least("max_grad_norm", 0.0), _at_least("noise_offset", 0.0),
    _integer("quantize", 3, 8, optional=True), _targets, _integer("save_every", 0, 10_000_000),
    _integer("keep_states", 1, 100), _integer("sample_steps", 0, 1000), _integer("sample_every", 0, 10_000_000),
    _integer("sample_resolution", 16, 4096, optional=True),
)
