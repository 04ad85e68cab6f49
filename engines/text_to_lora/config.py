"""Target configurations: which text encoders a diffusion model has, which of their layers get a LoRA, and how.

A configuration is a JSON file (presets in ``presets/``: sd15, sdxl, sd3, flux, and minilm for the quality
benchmark). Each encoder entry names its component (``clip_l``, ``clip_g``, ``t5xxl``; ``bert`` for a non-diffusion
encoder), its kind and whether it is causal, its dimensions, the module-name patterns that receive a LoRA and
the (in, out) width each pattern must have. :func:`validate_against` checks all of that against the encoder that
is actually loaded, so a config for another model fails before any optimisation, naming the layer.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ..common.errors import ConfigError

PRESET_DIR = Path(__file__).with_name("presets")
ENCODER_KINDS = {"clip": True, "t5": False, "bert": False}  # kind -> causal
COMPONENTS = ("clip_l", "clip_g", "t5xxl", "bert")
MAX_CONFIG_BYTES = 256 * 1024


@dataclass(frozen=True)
class EncoderTarget:
    """One text encoder of the target model and the LoRA it receives."""

    component: str = field(metadata={"help": "clip_l, clip_g, t5xxl (ComfyUI's names) or bert"})
    kind: str = field(metadata={"help": "clip (causal), t5 or bert (bidirectional)"})
    hidden_size: int = field(metadata={"help": "width of the token states (the embedding width)"})
    num_layers: int = field(metadata={"help": "transformer blocks"})
    vocab_size: int = field(metadata={"help": "rows of the token embedding (the tied readout)"})
    max_tokens: int = field(metadata={"help": "window incl. special tokens (77 for CLIP)"})
    target_layers: tuple[str, ...] = field(metadata={"help": "fnmatch patterns of module paths that get a LoRA"})
    layer_dimensions: Mapping[str, tuple[int, int]] = field(
        metadata={"help": "pattern suffix -> (in, out) width every matching module must have"})
    conditioning_layer: int = field(default=-1, metadata={
        "help": "block whose output the diffusion model reads, counted from the end as ComfyUI's CLIP Set Last "
                "Layer does: -1 = last, -2 = penultimate; inside ComfyUI the CLIP object's own setting wins"})
    layer_norm_hidden_state: bool = field(default=True, metadata={
        "help": "whether the final layer norm is applied to the read block's output (ComfyUI's flag of that name: "
                "true for SD1.x, false for SDXL/SD3)"})
    pooled_used: bool = field(default=False, metadata={
        "help": "whether the diffusion model reads this encoder's pooled output (SDXL CLIP-G, SD3 both CLIPs, "
                "Flux CLIP-L); then it is kept too"})
    padded_length: int | None = field(default=None, metadata={
        "help": "positions the diffusion model reads (the prompt padded to this length); default max_tokens for "
                "CLIP and T5, 0 (no padding) for BERT"})
    pad_token: int | None = field(default=None, metadata={
        "help": "id that pads the window (ComfyUI: CLIP-L pads with its end token, SDXL's CLIP-G with 0); "
                "default the tokenizer's pad token"})
    mask_token: str | None = field(default=None, metadata={"help": "token replacing the scored one (bidirectional)"})

    @property
    def causal(self) -> bool:
        return ENCODER_KINDS[self.kind]

    @property
    def window_length(self) -> int:
        """Positions the diffusion model reads (0: the unpadded prompt, for encoders no diffusion model uses)."""
        if self.padded_length is not None:
            return self.padded_length
        return 0 if self.kind == "bert" else self.max_tokens

    def __post_init__(self) -> None:
        where = f"encoder '{self.component}'"
        if self.component not in COMPONENTS:
            raise ConfigError(f"{where}: component must be one of {COMPONENTS}, got {self.component!r}")
        if self.kind not in ENCODER_KINDS:
            raise ConfigError(f"{where}: kind must be one of {tuple(ENCODER_KINDS)}, got {self.kind!r}")
        for name in ("hidden_size", "num_layers", "vocab_size", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{where}: {name} must be a positive integer, got {value!r}")
        if not self.target_layers:
            raise ConfigError(f"{where}: target_layers is empty; name at least one module pattern")
        layer = self.conditioning_layer
        if isinstance(layer, bool) or not isinstance(layer, int) or not -self.num_layers <= layer <= -1:
            raise ConfigError(f"{where}: conditioning_layer must be an integer from -{self.num_layers} to -1 "
                              f"(counted from the last block, as CLIP Set Last Layer counts), got {layer!r}")
        if self.padded_length is not None and (isinstance(self.padded_length, bool)
                                               or not isinstance(self.padded_length, int)
                                               or not 0 <= self.padded_length <= 4096):
            raise ConfigError(f"{where}: padded_length must be an integer from 0 to 4096, got {self.padded_length!r}")
        if not self.causal and not self.mask_token:
            raise ConfigError(f"{where}: a bidirectional encoder needs mask_token (masked pseudo-log-likelihood)")
        for suffix, dims in self.layer_dimensions.items():
            if len(dims) != 2 or any(not isinstance(d, int) or d <= 0 for d in dims):
                raise ConfigError(f"{where}: layer_dimensions['{suffix}'] must be [in, out] integers, got {dims!r}")
        for pattern in self.target_layers:
            if self.dimensions_for(pattern) is None:
                raise ConfigError(f"{where}: target layer '{pattern}' has no entry in layer_dimensions "
                                  f"(keys: {', '.join(self.layer_dimensions)})")

    def dimensions_for(self, path: str) -> tuple[int, int] | None:
        """(in, out) declared for a module path or pattern, by the longest matching suffix."""
        matches = [suffix for suffix in self.layer_dimensions if path.endswith(suffix)]
        return tuple(self.layer_dimensions[max(matches, key=len)]) if matches else None

    def matches(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.target_layers)


@dataclass(frozen=True)
class TargetConfig:
    """A whole target model: its family (for file naming) and encoders, plus the LoRA rank and alpha."""

    name: str
    family: str
    encoders: tuple[EncoderTarget, ...]
    lora_rank: int = 4
    lora_alpha: float = 4.0
    description: str = ""

    def __post_init__(self) -> None:
        if not self.encoders:
            raise ConfigError(f"config '{self.name}': encoders is empty")
        components = [e.component for e in self.encoders]
        if len(set(components)) != len(components):
            raise ConfigError(f"config '{self.name}': an encoder is listed twice ({components})")
        check_rank(self.lora_rank, self.encoders)
        if not isinstance(self.lora_alpha, (int, float)) or self.lora_alpha <= 0:
            raise ConfigError(f"config '{self.name}': lora_alpha must be a positive number, got {self.lora_alpha!r}")

    def encoder(self, component: str) -> EncoderTarget:
        for encoder in self.encoders:
            if encoder.component == component:
                return encoder
        raise ConfigError(f"config '{self.name}' has no encoder '{component}' "
                          f"(it has {', '.join(e.component for e in self.encoders)})")

    def with_rank(self, rank: int, alpha: float | None = None) -> TargetConfig:
        return replace(self, lora_rank=rank, lora_alpha=float(alpha if alpha is not None else rank))

    def with_read_layer(self, component: str, layer: int, normed: bool) -> TargetConfig:
        """The same config with one encoder read at another layer (what CLIP Set Last Layer set in the graph)."""
        encoders = tuple(replace(e, conditioning_layer=layer, layer_norm_hidden_state=normed)
                         if e.component == component else e for e in self.encoders)
        self.encoder(component)
        return replace(self, encoders=encoders)

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "encoders"}
        out["encoders"] = [{f.name: _plain(getattr(e, f.name)) for f in fields(e)} for e in self.encoders]
        return out


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return {k: list(v) for k, v in value.items()}
    return value


def check_rank(rank: int, encoders: tuple[EncoderTarget, ...]) -> None:
    """Rank must be a positive integer no larger than the narrowest targeted layer."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ConfigError(f"lora_rank must be a positive integer, got {rank!r}")
    for encoder in encoders:
        for dims in encoder.layer_dimensions.values():
            if rank > min(dims):
                raise ConfigError(f"lora_rank {rank} is larger than the layer width {min(dims)} of encoder "
                                  f"'{encoder.component}'; use at most {min(dims)}")


def preset_names() -> list[str]:
    return sorted(path.stem for path in PRESET_DIR.glob("*.json"))


def load_config(source: str | os.PathLike[str]) -> TargetConfig:
    """A preset name (``sd15``) or a JSON file path -> validated :class:`TargetConfig`."""
    path = Path(source)
    if path.suffix != ".json":
        if str(source) not in preset_names():
            raise ConfigError(f"no preset named '{source}' (presets: {', '.join(preset_names())}) "
                              "and it is not a .json file")
        path = PRESET_DIR / f"{source}.json"
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is {path.stat().st_size} bytes; configs are at most {MAX_CONFIG_BYTES}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    return config_from_dict(raw, origin=str(path))


def config_from_dict(raw: object, origin: str = "config") -> TargetConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a JSON object, got {type(raw).__name__}")
    try:
        encoders = tuple(_encoder_from_dict(item) for item in raw.get("encoders", ()))
        known = {f.name for f in fields(TargetConfig)} - {"encoders"}
        unknown = set(raw) - known - {"encoders"}
        if unknown:
            raise ConfigError(f"unknown field(s) {sorted(unknown)}; expected {sorted(known | {'encoders'})}")
        return TargetConfig(encoders=encoders, **{k: v for k, v in raw.items() if k != "encoders"})
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def _encoder_from_dict(item: object) -> EncoderTarget:
    if not isinstance(item, dict):
        raise ConfigError(f"each encoder must be a JSON object, got {item!r}")
    known = {f.name for f in fields(EncoderTarget)}
    unknown = set(item) - known
    if unknown:
        raise ConfigError(f"encoder {item.get('component', '?')!r}: unknown field(s) {sorted(unknown)}")
    values = dict(item)
    values["target_layers"] = tuple(values.get("target_layers", ()))
    values["layer_dimensions"] = {k: tuple(v) for k, v in dict(values.get("layer_dimensions", {})).items()}
    return EncoderTarget(**values)


@dataclass(frozen=True)
class LoadedEncoderFacts:
    """What :func:`validate_against` needs from a loaded encoder: sizes and every linear's (in, out)."""

    hidden_size: int
    num_layers: int
    vocab_size: int
    linear_shapes: Mapping[str, tuple[int, int]]  # module path -> (in, out)


def validate_against(target: EncoderTarget, facts: LoadedEncoderFacts) -> list[str]:
    """The module paths the config targets in this encoder; ConfigError naming layer/expected/found otherwise."""
    where = f"encoder '{target.component}'"
    for name in ("hidden_size", "num_layers", "vocab_size"):
        expected, found = getattr(target, name), getattr(facts, name)
        if expected != found:
            raise ConfigError(f"{where}: config expects {name}={expected} but the loaded encoder has {found}; "
                              "this config is for another model")
    selected: list[str] = []
    for pattern in target.target_layers:
        hits = sorted((p for p in facts.linear_shapes if fnmatch.fnmatchcase(p, pattern)), key=_natural_key)
        if not hits:
            raise ConfigError(f"{where}: target layer pattern '{pattern}' matches no module of the loaded encoder "
                              f"(e.g. {', '.join(sorted(facts.linear_shapes)[:3])})")
        for path in hits:
            expected, found = target.dimensions_for(path), tuple(facts.linear_shapes[path])
            if expected != found:
                raise ConfigError(f"{where}: layer '{path}' should be (in, out)={expected} but is {found}")
            if path not in selected:
                selected.append(path)
    return sorted(selected, key=_natural_key)


def _natural_key(path: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in path.split("."))
