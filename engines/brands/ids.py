"""Brand ids, roles and versions as validated values, and the one function that turns them into paths.

A brand id arrives from a workflow widget, a ``lora_configs`` JSON string or a URL path segment, so it is
untrusted. It may only name a folder directly inside a brand root: one path segment from a small
alphabet, at most :data:`MAX_ID_LENGTH` characters. :func:`child_path` then checks the resolved path
(symlinks followed) is still inside the root, so ``../x``, absolute paths, NUL bytes and links that point
elsewhere never reach ``open``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_ID_LENGTH = 128
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_VERSION = re.compile(r"v(\d{1,6})(?:\.(\d{1,6}))?(?:\.(\d{1,6}))?")
PRIMARY_ROLE = "style"


class BrandIdError(ValueError):
    """A brand id, role or version that is not a plain name (or would leave the brand root)."""


def _shown(value: str) -> str:
    """The value for an error message: never echo a 10 KB id back in full."""
    return repr(value) if len(value) <= 60 else f"{value[:40]!r}... ({len(value):,} characters)"


def validate_name(value: object, what: str = "brand id") -> str:
    """``value`` if it is a plain folder/file name (letters, digits, ``.``, ``_``, ``-``); else BrandIdError."""
    if not isinstance(value, str):
        raise BrandIdError(f"{what} must be text, got {type(value).__name__}")
    if not value:
        raise BrandIdError(f"{what} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise BrandIdError(f"{what} {_shown(value)} is longer than {MAX_ID_LENGTH} characters")
    if "\x00" in value:
        raise BrandIdError(f"{what} {_shown(value)} contains a NUL byte")
    if "/" in value or "\\" in value or value.startswith("~"):
        raise BrandIdError(f"{what} {_shown(value)} is a path; use the name of one folder in the brand library")
    if not _ID.fullmatch(value) or set(value) == {"."}:
        raise BrandIdError(f"{what} {_shown(value)} may only hold letters, digits, '.', '_' and '-', "
                           "and must start with a letter or digit")
    return value


def validate_brand_id(value: object) -> str:
    return validate_name(value, "brand id")


def parse_version(text: str) -> tuple[int, ...] | None:
    """``v2`` -> (2,), ``v1.10`` -> (1, 10); None for anything that is not a version label."""
    match = _VERSION.fullmatch(text)
    return tuple(int(part) for part in match.groups() if part is not None) if match else None


def validate_version(value: object) -> str:
    if not isinstance(value, str) or parse_version(value) is None:
        shown = _shown(value) if isinstance(value, str) else type(value).__name__
        raise BrandIdError(f"version {shown} is not a version label like 'v1', 'v2' or 'v1.2'")
    return value


@dataclass(frozen=True)
class BrandRef:
    """Which file of a brand: ``acme`` (primary style file), ``acme/product``, ``acme@v1``, ``acme/product@v2``."""

    brand_id: str
    role: str = PRIMARY_ROLE
    version: str | None = None

    def __post_init__(self) -> None:
        validate_brand_id(self.brand_id)
        validate_name(self.role, "role")
        if self.version is not None:
            validate_version(self.version)

    @property
    def label(self) -> str:
        base = self.brand_id if self.role == PRIMARY_ROLE else f"{self.brand_id}/{self.role}"
        return f"{base}@{self.version}" if self.version else base

    @classmethod
    def parse(cls, text: object) -> BrandRef:
        """Parse the short form used in widgets and ``lora_configs`` (see class docstring)."""
        if not isinstance(text, str):
            raise BrandIdError(f"brand reference must be text, got {type(text).__name__}")
        if len(text) > 3 * MAX_ID_LENGTH:
            raise BrandIdError(f"brand reference {_shown(text)} is too long")
        base, _, version = text.strip().partition("@")
        brand_id, _, role = base.partition("/")
        if "/" in role:
            raise BrandIdError(f"brand reference {_shown(text)} has more than one '/'; expected brand or brand/role")
        return cls(validate_brand_id(brand_id), role or PRIMARY_ROLE, version or None)


def child_path(root: Path, name: str) -> Path:
    """``root/name`` for a validated ``name``, refusing anything whose real path leaves ``root``."""
    validate_name(name, "name")
    real_root = root.resolve()
    candidate = (root / name).resolve()
    if candidate.parent != real_root:
        raise BrandIdError(f"'{name}' resolves outside the brand root {real_root} (a symbolic link?)")
    return candidate
