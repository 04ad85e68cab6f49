"""Tier pools: which checkpoints each tier explores, from a JSON file the user can edit.

The file (``checkpoint_pools.json`` in the pack's data dir) looks like::

    {"tiers": {"sd15_draft": {"checkpoints": ["a.safetensors", "b.safetensors"], "default": "a.safetensors"}}}

``default`` (optional, else the first listed) is what Quick mode uses until every checkpoint of the tier
has been shown enough. When the file does not exist it is written with the seed's defaults, an SD1.5
draft tier and an SDXL standard tier, so there is something to edit. At use, each tier is filtered to
the checkpoints ComfyUI has installed and the others are reported, never fatal. Saving through the route
is stricter: a tier must name at least two checkpoints, all installed, so nothing unusable is recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..common.atomic import write_text_atomic

POOLS_FILE = "checkpoint_pools.json"
MAX_FILE_BYTES = 1024 * 1024
MAX_TIERS = 64
MAX_CHECKPOINTS = 200
TIER_NAME = re.compile(r"^[A-Za-z0-9_.\- ]{1,64}$")


class PoolError(ValueError):
    """A pools file or body that cannot be used; the message names the source, the field and the value."""


@dataclass(frozen=True)
class TierPool:
    checkpoints: tuple[str, ...]
    default: str | None = None

    @property
    def default_checkpoint(self) -> str:
        return self.default or self.checkpoints[0]

    def to_dict(self) -> dict:
        return {"checkpoints": list(self.checkpoints), "default": self.default_checkpoint}


# The seed's example pools (file names as commonly published; edit the file to match your models).
DEFAULT_POOLS: dict[str, TierPool] = {
    "sd15_draft": TierPool(("beenyouLite_l15.safetensors", "realisticVisionV60B1_v51VAE.safetensors",
                            "dreamshaper_8.safetensors")),
    "sdxl_standard": TierPool(("epicrealismXL_pureFix.safetensors", "realvisxlV50_v50Bakedvae.safetensors",
                               "juggernautXL_ragnarokBy.safetensors")),
}


@dataclass(frozen=True)
class ResolvedTier:
    """A tier against what is installed: usable checkpoints (pool order), the missing ones, the default."""

    name: str
    configured: tuple[str, ...]
    installed: tuple[str, ...]
    missing: tuple[str, ...]
    default: str | None

    def to_dict(self) -> dict:
        return {"checkpoints": list(self.configured), "installed": list(self.installed),
                "missing": list(self.missing), "default": self.default}


def parse_pools(data: object, source: str) -> dict[str, TierPool]:
    """Validate the pools JSON shape (not installation): tier names, checkpoint lists, defaults."""
    if not isinstance(data, Mapping) or not isinstance(data.get("tiers"), Mapping):
        raise PoolError(f"{source}: expected an object with a 'tiers' object, got {type(data).__name__}")
    unknown = sorted(set(data) - {"tiers"})
    if unknown:
        raise PoolError(f"{source}: unknown field(s) {unknown}; only 'tiers' is allowed")
    tiers = data["tiers"]
    if len(tiers) > MAX_TIERS:
        raise PoolError(f"{source}: {len(tiers)} tiers; the limit is {MAX_TIERS}")
    return {name: _parse_tier(name, value, source) for name, value in tiers.items()}


def _parse_tier(name: str, value: object, source: str) -> TierPool:
    where = f"{source}: tier '{name}'"
    if not TIER_NAME.match(name):
        raise PoolError(f"{where}: a tier name is 1-64 letters, digits, spaces, '_', '-' or '.'")
    if not isinstance(value, Mapping) or not isinstance(value.get("checkpoints"), list):
        raise PoolError(f"{where}: expected {{\"checkpoints\": [names...], \"default\": name}}")
    extra = sorted(set(value) - {"checkpoints", "default"})
    if extra:
        raise PoolError(f"{where}: unknown field(s) {extra}")
    names = value["checkpoints"]
    if not names or len(names) > MAX_CHECKPOINTS or not all(isinstance(n, str) and 0 < len(n) <= 255 for n in names):
        raise PoolError(f"{where}: 'checkpoints' must list 1-{MAX_CHECKPOINTS} file names, got {names!r}")
    if len(set(names)) != len(names):
        raise PoolError(f"{where}: 'checkpoints' lists a name twice: {names!r}")
    default = value.get("default")
    if default is not None and default not in names:
        raise PoolError(f"{where}: default '{default}' is not one of its checkpoints")
    return TierPool(tuple(names), default)


def check_saveable(pools: Mapping[str, TierPool], installed: Sequence[str]) -> None:
    """Refuse pools a user saves that could not be explored: fewer than two or missing checkpoints."""
    have = set(installed)
    for name, pool in pools.items():
        if len(pool.checkpoints) < 2:
            raise PoolError(f"tier '{name}' names {len(pool.checkpoints)} checkpoint; a tier needs at least 2 "
                            "to compare")
        missing = [c for c in pool.checkpoints if c not in have]
        if missing:
            raise PoolError(f"tier '{name}' names checkpoint(s) ComfyUI does not have: {', '.join(missing)}")


def resolve(pools: Mapping[str, TierPool], installed: Sequence[str]) -> dict[str, ResolvedTier]:
    have = set(installed)
    out = {}
    for name, pool in pools.items():
        usable = tuple(c for c in pool.checkpoints if c in have)
        default = pool.default_checkpoint if pool.default_checkpoint in have else (usable[0] if usable else None)
        out[name] = ResolvedTier(name, pool.checkpoints, usable,
                                 tuple(c for c in pool.checkpoints if c not in have), default)
    return out


def load_pools(path: Path) -> dict[str, TierPool]:
    """The pools in ``path``; writes the defaults there first when the file does not exist."""
    path = Path(path)
    if not path.exists():
        save_pools(path, DEFAULT_POOLS)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise PoolError(f"{path}: {size} bytes; a pools file is at most {MAX_FILE_BYTES}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoolError(f"{path}: not valid JSON ({exc}); fix or delete it to get the defaults back") from None
    return parse_pools(data, str(path))


def save_pools(path: Path, pools: Mapping[str, TierPool]) -> None:
    """Write atomically (temp file, fsync, rename) so a reader never sees half a file."""
    text = json.dumps({"tiers": {name: pool.to_dict() for name, pool in pools.items()}}, indent=2) + "\n"
    write_text_atomic(path, text)
