"""Open the base model to train, offline: a single-file checkpoint (what ComfyUI's loader lists) or a diffusers folder.

A ComfyUI checkpoint is one ``.safetensors`` in the original LDM/SGM key layout. We read only the keys of
the part we need (UNet, VAE or text encoders), convert them with diffusers' own converters and build the
diffusers models from the configs shipped in ``model_configs/`` on the meta device, so no weights are
initialised twice, nothing touches the network, and the VAE and text encoders can be freed once their
outputs are cached.
"""

from __future__ import annotations

import functools
import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ..lora_format import LoraFileError, read_header

CONFIG_DIR = Path(__file__).with_name("model_configs")
SUPPORTED_FAMILIES = ("sd15", "sdxl")


class CheckpointError(ValueError):
    """A model that cannot be trained here: unknown layout, unsupported family, or keys that do not fit."""


@dataclass(frozen=True)
class TextEncoderSpec:
    """How a family uses one text encoder: which hidden layer conditions the UNet, padding, pooled output."""

    name: str
    hidden_layer: int
    pad_with_end: bool
    pooled: bool


TEXT_ENCODERS: dict[str, tuple[TextEncoderSpec, ...]] = {
    "sd15": (TextEncoderSpec("clip_l", -1, True, False),),
    "sdxl": (TextEncoderSpec("clip_l", -2, True, False), TextEncoderSpec("clip_g", -2, False, True)),
}

# Single-file markers: (key that must exist, family); first match wins.
CHECKPOINT_MARKERS = (
    ("conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight", "sdxl"),
    ("cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight", "sd15"),
    ("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight", "sd2"),
    ("model.diffusion_model.double_blocks.0.img_attn.qkv.weight", "flux"),
    ("double_blocks.0.img_attn.qkv.weight", "flux"),
    ("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", "sd3"),
)
UNET_PREFIX, VAE_PREFIX = "model.diffusion_model.", "first_stage_model."
CLIP_PREFIXES = {("sd15", 0): "cond_stage_model.transformer.", ("sdxl", 0): "conditioner.embedders.0.transformer.",
                 ("sdxl", 1): "conditioner.embedders.1.model."}


def checkpoint_family(path: str | os.PathLike[str]) -> str:
    """sd15/sdxl (trainable here) from the header's key names; a clear error for anything else."""
    try:
        keys = read_header(path).tensors
    except LoraFileError as exc:
        raise CheckpointError(str(exc)) from None
    for marker, family in CHECKPOINT_MARKERS:
        if marker in keys:
            if family not in SUPPORTED_FAMILIES:
                raise CheckpointError(f"{path}: a {family} checkpoint; the in-process trainer trains sd15 and sdxl "
                                      "(use the kohya engine for flux/sd3)")
            return family
    raise CheckpointError(f"{path}: not a Stable Diffusion checkpoint with UNet, VAE and text encoder "
                          "(no known key layout); pick a full checkpoint, not a UNet-only or LoRA file")


def _build(factory, state_dict: dict, dtype, what: str):
    """Construct on the meta device, then take the tensors as parameters (no random init, no copy)."""
    import torch

    with torch.device("meta"):
        model = factory()
    result = model.load_state_dict(_match_prefix(state_dict, model), strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f"{what}: weights do not fit the architecture: missing {result.missing_keys[:5]} "
                              f"({len(result.missing_keys)}), unexpected {result.unexpected_keys[:5]} "
                              f"({len(result.unexpected_keys)})")
    _materialize_buffers(model, what)
    return model.to(dtype=dtype).eval().requires_grad_(False)


def _match_prefix(state_dict: dict, model) -> dict:
    """transformers 5 dropped CLIPTextModel's ``text_model.`` level (the projection model keeps it): follow the model."""
    wants_prefix = any(key.startswith("text_model.") for key in model.state_dict())
    has_prefix = any(key.startswith("text_model.") for key in state_dict)
    if has_prefix and not wants_prefix:
        return {key.removeprefix("text_model."): value for key, value in state_dict.items()}
    if wants_prefix and not has_prefix:
        return {key if key.startswith("text_projection") else f"text_model.{key}": value
                for key, value in state_dict.items()}
    return state_dict


def _materialize_buffers(model, what: str) -> None:
    """Non-persistent buffers are not in a state dict; recreate the known ones (CLIP's position ids)."""
    import torch

    for name, buffer in list(model.named_buffers()):
        if not buffer.is_meta:
            continue
        owner_name, _, leaf = name.rpartition(".")
        if leaf != "position_ids":
            raise CheckpointError(f"{what}: buffer '{name}' has no value in the checkpoint")
        owner = model.get_submodule(owner_name)
        owner.register_buffer(leaf, torch.arange(buffer.shape[-1]).expand(buffer.shape), persistent=False)


def _text_model_class(config: dict):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    return CLIPTextModelWithProjection if "WithProjection" in "".join(config.get("architectures", [])) else CLIPTextModel


def _text_model(config: dict):
    from transformers import CLIPTextConfig

    cls = _text_model_class(config)
    return lambda: cls(CLIPTextConfig(**{k: v for k, v in config.items() if k != "architectures"}))


class ModelSource(ABC):
    """What the trainer needs from a base model; each part is loaded on demand and can be dropped after use."""

    family: str
    path: Path

    @abstractmethod
    def load_unet(self, dtype):
        """See the subclasses."""

    @abstractmethod
    def load_vae(self, dtype):
        """See the subclasses."""

    @abstractmethod
    def load_text_encoders(self, dtype) -> list:
        """See the subclasses."""

    @abstractmethod
    def scheduler_config(self) -> dict:
        """See the subclasses."""

    @abstractmethod
    def vae_config(self) -> dict:
        """See the subclasses."""

    def vae_factors(self) -> tuple[float, float | None]:
        """(scaling_factor, shift_factor) that map VAE latents to the UNet's scale."""
        config = self.vae_config()
        return float(config.get("scaling_factor", 0.18215)), config.get("shift_factor")

    def tokenizers(self) -> list:
        """One CLIP tokenizer per text encoder (the real SD vocabulary, built offline)."""
        from ..tokenizers import clip_tokenizer

        return [clip_tokenizer() for _ in TEXT_ENCODERS[self.family]]

    @property
    def fingerprint(self) -> str:
        stat = self.path.stat()
        return f"{self.path.name}:{stat.st_size}:{stat.st_mtime_ns}"

    def noise_scheduler(self):
        from diffusers import DDPMScheduler

        return DDPMScheduler.from_config(self.scheduler_config())


class CheckpointFile(ModelSource):
    """A ComfyUI-style single-file SD1.5/SDXL checkpoint, with the diffusers configs from ``config_dir``."""

    def __init__(self, path: str | os.PathLike[str], config_dir: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path)
        self.family = checkpoint_family(self.path)
        self.config_dir = Path(config_dir) if config_dir else CONFIG_DIR / self.family

    def _config(self, name: str) -> dict:
        return json.loads((self.config_dir / f"{name}.json").read_text(encoding="utf-8"))

    def _read(self, prefixes: tuple[str, ...], dtype) -> dict:
        from safetensors import safe_open

        with safe_open(str(self.path), framework="pt") as handle:
            return {key: handle.get_tensor(key).to(dtype) for key in handle.keys() if key.startswith(prefixes)}

    def load_unet(self, dtype):
        from diffusers import UNet2DConditionModel
        from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

        config = self._config("unet")
        converted = convert_ldm_unet_checkpoint(self._read((UNET_PREFIX,), dtype), config)
        return _build(lambda: UNet2DConditionModel.from_config(config), converted, dtype, f"{self.path.name} UNet")

    def load_vae(self, dtype):
        from diffusers import AutoencoderKL
        from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

        config = self._config("vae")
        converted = convert_ldm_vae_checkpoint(self._read((VAE_PREFIX,), dtype), config)
        return _build(lambda: AutoencoderKL.from_config(config), converted, dtype, f"{self.path.name} VAE")

    def load_text_encoders(self, dtype) -> list:
        names = ["text_encoder", "text_encoder_2"][:len(TEXT_ENCODERS[self.family])]
        return [self._load_text_encoder(index, name, dtype) for index, name in enumerate(names)]

    def _load_text_encoder(self, index: int, name: str, dtype):
        from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint, convert_open_clip_checkpoint

        config = self._config(name)
        prefix = CLIP_PREFIXES[(self.family, index)]
        raw = self._read((prefix,), dtype)
        if prefix.endswith(".model."):  # OpenCLIP layout (SDXL's CLIP-G): fused qkv, text_projection transposed
            with _meta():
                shell = _text_model(config)()
            converted = convert_open_clip_checkpoint(shell, raw, prefix=prefix)
        else:
            converted = convert_ldm_clip_checkpoint(raw, remove_prefix=prefix)
        converted = {k: v for k, v in converted.items() if not k.endswith("position_ids")}
        return _build(_text_model(config), converted, dtype, f"{self.path.name} {name}")

    def scheduler_config(self) -> dict:
        return self._config("scheduler")

    def part_config(self, name: str) -> dict:
        """The diffusers config of one part (unet, vae, text_encoder, text_encoder_2), read without weights."""
        return self._config(name)

    def vae_config(self) -> dict:
        return self._config("vae")


def _meta():
    import torch

    return torch.device("meta")


class DiffusersFolder(ModelSource):
    """A diffusers-format folder (``unet/``, ``vae/``, ``text_encoder/``, ``scheduler/``), loaded offline."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        unet_config = self.path / "unet" / "config.json"
        if not unet_config.is_file():
            raise CheckpointError(f"{self.path}: not a diffusers model folder (no unet/config.json)")
        config = json.loads(unet_config.read_text(encoding="utf-8"))
        self.family = "sdxl" if config.get("addition_embed_type") == "text_time" else "sd15"

    @property
    def fingerprint(self) -> str:
        parts = []
        for file in sorted(self.path.rglob("*")):
            if file.is_file():
                stat = file.stat()
                parts.append(f"{file.relative_to(self.path)}:{stat.st_size}:{stat.st_mtime_ns}")
        return "|".join(parts)

    def load_unet(self, dtype):
        from diffusers import UNet2DConditionModel

        return UNet2DConditionModel.from_pretrained(self.path, subfolder="unet", torch_dtype=dtype,
                                                    local_files_only=True).eval().requires_grad_(False)

    def load_vae(self, dtype):
        from diffusers import AutoencoderKL

        return AutoencoderKL.from_pretrained(self.path, subfolder="vae", torch_dtype=dtype,
                                             local_files_only=True).eval().requires_grad_(False)

    def load_text_encoders(self, dtype) -> list:
        names = ["text_encoder", "text_encoder_2"][:len(TEXT_ENCODERS[self.family])]
        models = []
        for name in names:
            config = json.loads((self.path / name / "config.json").read_text(encoding="utf-8"))
            cls = _text_model_class(config)
            models.append(cls.from_pretrained(self.path / name, torch_dtype=dtype, local_files_only=True)
                          .eval().requires_grad_(False))
        return models

    def tokenizers(self) -> list:
        folders = ["tokenizer", "tokenizer_2"][:len(TEXT_ENCODERS[self.family])]
        if all((self.path / folder / "vocab.json").is_file() for folder in folders):
            return [_folder_tokenizer(str(self.path / folder)) for folder in folders]
        return super().tokenizers()

    def scheduler_config(self) -> dict:
        return json.loads((self.path / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))

    def part_config(self, name: str) -> dict:
        return json.loads((self.path / name / "config.json").read_text(encoding="utf-8"))

    def vae_config(self) -> dict:
        return json.loads((self.path / "vae" / "config.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=8)
def _folder_tokenizer(folder: str):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(folder, model_max_length=77, local_files_only=True)


def open_model(path: str | os.PathLike[str], config_dir: str | os.PathLike[str] | None = None) -> ModelSource:
    """A checkpoint file or a diffusers folder, by what ``path`` is."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"model '{path}' does not exist")
    return DiffusersFolder(path) if path.is_dir() else CheckpointFile(path, config_dir)
