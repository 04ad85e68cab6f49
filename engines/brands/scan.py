"""What one brand folder holds: its LoRA files by role and version, read from names alone (no file is opened).

Layout (seed 004)::

    <brand root>/<brand_id>/
        style.safetensors | lora.safetensors | <brand_id>.safetensors   the primary ("style") file, in that order
        product.safetensors, photography.safetensors, ...             other roles, named by the file
        style_v2.safetensors                                          a version in the file name (_v2, -v2, .v2)
        v1/style.safetensors, v2/product.safetensors                  or a version folder
        metadata.json                                                 description, training info, version notes

Scanning is bounded (:data:`MAX_ENTRIES` names per folder) and never follows a link out of the brand
root. Pickle files are listed as refused so a user sees why their ``.ckpt`` is not offered.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..lora_format.safetensors_file import PICKLE_SUFFIXES, SAFETENSORS_SUFFIXES
from .ids import PRIMARY_ROLE, BrandIdError, parse_version, validate_name

MAX_ENTRIES = 1000
METADATA_FILE = "metadata.json"
_VERSIONED_STEM = re.compile(r"(.+?)[_.-](v\d{1,6}(?:\.\d{1,6}){0,2})")


@dataclass(frozen=True)
class BrandRoot:
    """A folder holding brand folders. ``lora_prefix`` is its name inside a ComfyUI ``loras`` folder
    (``"brands"``), so file names can be given as ComfyUI LoRA names; None when it is outside every one."""

    path: Path
    lora_prefix: str | None = None


@dataclass(frozen=True)
class BrandFile:
    brand_id: str
    role: str
    version: str | None
    path: Path
    relative: str  # inside the brand folder, '/'-separated
    priority: int  # among primary names: 0 style, 1 lora, 2 <brand_id>; 0 for other roles
    lora_name: str  # ComfyUI LoRA name (relative to a loras folder) or the absolute path

    @property
    def version_key(self) -> tuple[int, ...]:
        return parse_version(self.version) if self.version else ()


@dataclass(frozen=True)
class Brand:
    brand_id: str
    root: BrandRoot
    path: Path
    files: tuple[BrandFile, ...]
    has_metadata: bool
    refused: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    truncated: bool = False
    signature: tuple = field(default=(), compare=False, repr=False)  # see current_signature

    @property
    def roles(self) -> list[str]:
        found = {f.role for f in self.files}
        return sorted(found, key=lambda role: (role != PRIMARY_ROLE, role))

    def versions(self, role: str | None = None) -> list[str]:
        chosen = [f for f in self.files if role is None or f.role == role]
        return [v for v in sorted({f.version for f in chosen if f.version}, key=parse_version)]

    @functools.cached_property
    def summary(self) -> dict:
        """One row of ``GET /lora/list`` (names only), computed once per scan."""
        return {"brand_id": self.brand_id, "roles": self.roles, "versions": self.versions(),
                "files": len(self.files), "has_metadata": self.has_metadata, "refused_files": list(self.refused),
                "truncated_listing": self.truncated}


def _role_of(stem: str, brand_id: str) -> tuple[str, int]:
    primary = ("style", "lora", brand_id)
    if stem in primary:
        return PRIMARY_ROLE, primary.index(stem)
    return validate_name(stem, "role"), 0


def _classify(name: str, brand_id: str, folder_version: str | None) -> tuple[str, str | None, int]:
    """(role, version, priority) from a file name; BrandIdError when the name holds no usable role."""
    stem = name.rsplit(".", 1)[0]
    version = folder_version
    match = _VERSIONED_STEM.fullmatch(stem)
    if match:
        stem, version = match.group(1), folder_version or match.group(2)
    role, priority = _role_of(stem, brand_id)
    return role, version, priority


def _inside(path: Path, real_root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(real_root)
    except OSError:
        return False


def _bounded_entries(folder: Path) -> tuple[list[os.DirEntry], bool]:
    entries: list[os.DirEntry] = []
    with os.scandir(folder) as iterator:
        for entry in iterator:
            if len(entries) >= MAX_ENTRIES:
                return entries, True
            entries.append(entry)
    return entries, False


@dataclass
class _Collected:
    files: list[BrandFile] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    version_dirs: list[tuple[str, int]] = field(default_factory=list)
    has_metadata: bool = False
    truncated: bool = False


def _add_file(out: _Collected, entry: os.DirEntry, relative: str, brand_id: str, version: str | None,
              make_name) -> None:
    suffix = os.path.splitext(entry.name)[1].lower()
    if suffix in PICKLE_SUFFIXES:
        out.refused.append(relative)
        return
    if suffix not in SAFETENSORS_SUFFIXES:
        return
    try:
        role, version, priority = _classify(entry.name, brand_id, version)
    except BrandIdError:
        out.ignored.append(relative)
        return
    out.files.append(BrandFile(brand_id, role, version, Path(entry.path), relative, priority, make_name(relative)))


def _scan_folder(out: _Collected, folder: Path, prefix: str, brand_id: str, version: str | None,
                 real_root: Path, make_name) -> None:
    entries, truncated = _bounded_entries(folder)
    out.truncated |= truncated
    for entry in entries:
        relative = prefix + entry.name
        if entry.is_symlink() and not _inside(Path(entry.path), real_root):  # plain entries are inside already
            out.ignored.append(relative)
        elif entry.is_dir():
            if version is None and parse_version(entry.name):
                out.version_dirs.append((entry.name, entry.stat().st_mtime_ns))
                _scan_folder(out, Path(entry.path), relative + "/", brand_id, entry.name, real_root, make_name)
        elif entry.name == METADATA_FILE and version is None:
            out.has_metadata = True
        elif entry.is_file():
            _add_file(out, entry, relative, brand_id, version, make_name)


def lora_name_maker(root: BrandRoot, brand_id: str, brand_path: Path):
    """How a file of this brand is named in a ``LORA_STACK`` / the generations store."""
    if root.lora_prefix is None:
        return lambda relative: str(brand_path / relative)
    prefix = f"{root.lora_prefix.strip('/')}/" if root.lora_prefix.strip("/") else ""
    return lambda relative: f"{prefix}{brand_id}/{relative}"


def scan_brand(root: BrandRoot, brand_id: str, brand_path: Path) -> Brand:
    """Read one brand folder's names (``brand_path`` already validated to be inside ``root``).

    The folder times are taken before their names are read, so a file added during the scan changes the
    signature and the next :func:`current_signature` check rescans.
    """
    out = _Collected()
    folder_time = brand_path.stat().st_mtime_ns
    real_root = root.path.resolve()
    _scan_folder(out, brand_path, "", brand_id, None, real_root, lora_name_maker(root, brand_id, brand_path))
    files = sorted(out.files, key=lambda f: (f.role, f.version_key, f.priority, f.relative))
    return Brand(brand_id, root, brand_path, tuple(files), out.has_metadata, tuple(sorted(out.refused)),
                 tuple(sorted(out.ignored)), out.truncated, (folder_time, tuple(sorted(out.version_dirs))))


def current_signature(brand: Brand) -> tuple | None:
    """The signature the folder has now (stat calls only); None if the folder is gone."""
    try:
        folder_time = os.stat(brand.path).st_mtime_ns
        if not brand.signature[1]:  # the common case: no version folders
            return (folder_time, ())
        dirs = [(name, (brand.path / name).stat().st_mtime_ns) for name, _ in brand.signature[1]]
        return (folder_time, tuple(sorted(dirs)))
    except OSError:
        return None
