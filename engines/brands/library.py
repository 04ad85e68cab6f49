"""The brand library: brand folders under one or more roots, listed cheaply and resolved to one file.

Listing 1,000 brands must stay fast (the node's combo and ``GET /lora/list`` ask often), so each brand's
scan is kept and reused while its folder signature (folder times, from ``stat``) is unchanged: a warm
listing costs one ``scandir`` of each root and one or two ``stat`` calls per brand, and never opens a file.

Resolution picks the file a :class:`BrandRef` means: its role (the primary ``style`` file by default),
then the version asked for, else the sidecar's pinned ``default_version``, else the newest.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .ids import PRIMARY_ROLE, BrandIdError, BrandRef, child_path, validate_brand_id
from .scan import METADATA_FILE, Brand, BrandFile, BrandRoot, current_signature, scan_brand
from .sidecar import BrandSidecar, read_sidecar

MAX_BRANDS_PER_ROOT = 100_000


class BrandNotFoundError(FileNotFoundError):
    """No such brand, or the brand has no file for the role/version asked for."""


@dataclass(frozen=True)
class Resolved:
    """The file a reference resolved to, with notes about choices the user did not make explicitly."""

    ref: BrandRef
    file: BrandFile
    notes: tuple[str, ...] = ()


class BrandLibrary:
    """Thread-safe: scans run outside the lock; the worst a race does is scan a folder twice."""

    def __init__(self, roots: Callable[[], Sequence[BrandRoot]]) -> None:
        self._roots = roots
        self._lock = threading.Lock()
        self._brands: dict[str, Brand] = {}  # by folder path as text: cheaper to build and hash than Path
        self._sidecars: dict[Path, tuple[tuple[int, int], BrandSidecar]] = {}

    def roots(self) -> list[BrandRoot]:
        return list(self._roots())

    def _fresh(self, root: BrandRoot, brand_id: str, path: str) -> Brand:
        with self._lock:
            cached = self._brands.get(path)
        if cached is not None and cached.root == root and current_signature(cached) == cached.signature:
            return cached
        brand = scan_brand(root, brand_id, Path(path))
        with self._lock:
            self._brands[path] = brand
        return brand

    def _root_entries(self, root: BrandRoot) -> list[os.DirEntry]:
        try:
            with os.scandir(root.path) as iterator:
                return [entry for _, entry in zip(range(MAX_BRANDS_PER_ROOT), iterator)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list(self) -> list[Brand]:
        """Every brand in every root, sorted by id; a brand id in two roots comes from the first root.

        A brand seen before costs one ``stat`` here (its name was validated when it was first scanned).
        """
        with self._lock:
            memo = self._brands
        found: dict[str, Brand] = {}
        for root in self.roots():
            for entry in self._root_entries(root):
                if entry.name in found or not entry.is_dir():
                    continue
                cached = memo.get(entry.path)
                if (cached is not None and cached.root == root and not entry.is_symlink()
                        and current_signature(cached) == cached.signature):
                    found[entry.name] = cached
                    continue
                try:
                    validate_brand_id(entry.name)
                    path = str(child_path(root.path, entry.name)) if entry.is_symlink() else entry.path
                    found[entry.name] = self._fresh(root, entry.name, path)
                except (BrandIdError, OSError):
                    continue  # not a brand folder name, a link out of the root, or removed while listing
        with self._lock:  # forget brands that are gone, so the memo stays as large as the library
            self._brands = {str(brand.path): brand for brand in found.values()}
        return [found[name] for name in sorted(found)]

    def brand_ids(self) -> list[str]:
        return [brand.brand_id for brand in self.list()]

    def get(self, brand_id: object) -> Brand:
        """One brand by id (validated: the id can only name a folder directly inside a root)."""
        brand_id = validate_brand_id(brand_id)
        roots = self.roots()
        for root in roots:
            candidate = root.path / brand_id
            if candidate.is_dir():
                return self._fresh(root, brand_id, str(child_path(root.path, brand_id)))
        searched = ", ".join(str(root.path) for root in roots) or "no brand root is configured"
        raise BrandNotFoundError(f"brand '{brand_id}' not found (searched {searched})")

    def sidecar(self, brand: Brand) -> BrandSidecar:
        """The brand's ``metadata.json``, re-read only when its size or time changes."""
        path = brand.path / METADATA_FILE
        try:
            stat = path.stat()
        except OSError:
            return BrandSidecar()
        key = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._sidecars.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        sidecar = read_sidecar(path)
        with self._lock:
            self._sidecars[path] = (key, sidecar)
        return sidecar

    def resolve(self, ref: BrandRef, role_fallback: bool = False) -> Resolved:
        """The file ``ref`` names. ``role_fallback``: a brand without that role file gives its primary
        file (the seed's ``lora_configs`` ``type`` is often a label for a brand that has only one LoRA)."""
        brand = self.get(ref.brand_id)
        notes: list[str] = []
        candidates = [f for f in brand.files if f.role == ref.role]
        if not candidates and role_fallback and ref.role != PRIMARY_ROLE:
            candidates = [f for f in brand.files if f.role == PRIMARY_ROLE]
            if candidates:
                notes.append(f"brand '{brand.brand_id}' has no '{ref.role}' file; used its primary (style) file")
        if not candidates:
            raise BrandNotFoundError(_missing_role(brand, ref.role))
        sidecar = self.sidecar(brand)
        if sidecar.error:
            notes.append(f"metadata.json ignored: {sidecar.error}")
        chosen = _pick_version(brand, candidates, ref, sidecar.default_version, notes)
        return Resolved(ref, chosen, tuple(notes))


def _missing_role(brand: Brand, role: str) -> str:
    if not brand.files:
        return f"brand '{brand.brand_id}' has no .safetensors LoRA file in {brand.path}" + (
            f" (refused pickle files: {', '.join(brand.refused)})" if brand.refused else "")
    return f"brand '{brand.brand_id}' has no '{role}' LoRA (roles: {', '.join(brand.roles)})"


def _pick_version(brand: Brand, candidates: list[BrandFile], ref: BrandRef, pinned: str | None,
                  notes: list[str]) -> BrandFile:
    if ref.version:
        chosen = [f for f in candidates if f.version == ref.version]
        if not chosen:
            have = ", ".join(sorted({f.version or "unversioned" for f in candidates}))
            raise BrandNotFoundError(f"brand '{brand.brand_id}' has no version '{ref.version}' of its "
                                     f"'{candidates[0].role}' LoRA (versions: {have})")
        return min(chosen, key=lambda f: f.priority)
    if pinned:
        chosen = [f for f in candidates if f.version == pinned]
        if chosen:
            return min(chosen, key=lambda f: f.priority)
        notes.append(f"metadata.json pins version '{pinned}', which this role does not have; used the newest")
    return max(candidates, key=lambda f: (f.version_key, -f.priority))
