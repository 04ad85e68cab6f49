"""Settings for the brand cache and preload, from the environment (the seed's variables).

``LORA_CACHE_ENABLED`` (default true), ``LORA_CACHE_MAX_SIZE`` (entries, default 5),
``LORA_CACHE_MAX_BYTES`` (default 2 GiB; plain bytes or ``512MB``/``4GiB``), ``LORA_PRELOAD_BRANDS``
(comma-separated brand references such as ``acme,acme/product,beta@v2``) and ``LORA_BASE_DIR`` (a brand
root that comes before ComfyUI's ``loras/brands`` folders). A value that cannot be read raises an error
naming the variable, the value and what is expected: a silently ignored setting is worse than a loud one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..common.errors import ConfigError
from .ids import BrandIdError, BrandRef

DEFAULT_MAX_ENTRIES = 5
DEFAULT_MAX_BYTES = 2 * 1024**3
MAX_PRELOAD = 1000
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1024**3, "gib": 1024**3}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


@dataclass(frozen=True)
class CacheConfig:
    enabled: bool = field(default=True, metadata={"help": "keep loaded LoRAs in memory between runs"})
    max_entries: int = field(default=DEFAULT_MAX_ENTRIES, metadata={"help": "most LoRAs kept"})
    max_bytes: int = field(default=DEFAULT_MAX_BYTES, metadata={"help": "most tensor bytes kept"})

    def __post_init__(self) -> None:
        for name in ("max_entries", "max_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"cache {name} must be a whole number >= 1, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CacheConfig:
        return cls(
            enabled=_flag(environ, "LORA_CACHE_ENABLED", True),
            max_entries=_count(environ, "LORA_CACHE_MAX_SIZE", DEFAULT_MAX_ENTRIES),
            max_bytes=_size(environ, "LORA_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES),
        )


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE | _FALSE:
        return raw in _TRUE
    raise ConfigError(f"{name}={environ[name]!r} is not a yes/no value (use true or false)")


def _count(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={raw!r} is not a whole number >= 1")
    return int(raw)


def parse_size(text: str) -> int:
    """``"2GB"`` -> 2147483648 (binary units; a bare number is bytes)."""
    match = _SIZE.fullmatch(text.strip().lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"{text!r} is not a size like 536870912, 512MB or 4GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _size(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse_size(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1 byte")
    return value


def preload_refs(environ: Mapping[str, str]) -> list[BrandRef]:
    """The brands named in ``LORA_PRELOAD_BRANDS``, validated (duplicates dropped, order kept)."""
    raw = environ.get("LORA_PRELOAD_BRANDS", "")
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if len(names) > MAX_PRELOAD:
        raise ConfigError(f"LORA_PRELOAD_BRANDS names {len(names)} brands; the limit is {MAX_PRELOAD}")
    refs: list[BrandRef] = []
    for name in names:
        try:
            ref = BrandRef.parse(name)
        except BrandIdError as exc:
            raise ConfigError(f"LORA_PRELOAD_BRANDS: {exc}") from None
        if ref not in refs:
            refs.append(ref)
    return refs


def base_dir(environ: Mapping[str, str]) -> Path | None:
    raw = environ.get("LORA_BASE_DIR", "").strip()
    if "\x00" in raw:
        raise ConfigError("LORA_BASE_DIR contains a NUL byte")
    return Path(raw).expanduser() if raw else None
