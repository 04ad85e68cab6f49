"""What ``GET /lora/list`` and ``GET /lora/{brand_id}/metadata`` answer, built from names, headers and sidecars.

The listing reads names only. The metadata of one brand reads each file's safetensors header (a bounded
read; tensors are never loaded) and ``metadata.json``. Its ETag is a hash of every file's name, size and
mtime, so a client's ``If-None-Match`` is answered without reading a header, and the body is kept
until a file of the brand changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading

from ..lora_format import LoraFileError, inspect_header, read_header
from .ids import PRIMARY_ROLE, BrandRef, parse_version
from .library import BrandLibrary
from .scan import METADATA_FILE, Brand, BrandFile

MEMO_LIMIT = 4096
# safetensors metadata keys worth showing as training facts, by what they mean (kohya names)
TRAINING_KEYS = {"steps": "ss_max_train_steps", "epochs": "ss_num_epochs", "learning_rate": "ss_learning_rate",
                 "dataset_size": "ss_num_train_images", "base_model_name": "ss_sd_model_name",
                 "network_dim": "ss_network_dim", "network_alpha": "ss_network_alpha"}
CONTENT_HASH_KEYS = ("modelspec.hash_sha256", "sshs_model_hash")


def listing(library: BrandLibrary) -> dict:
    brands = library.list()
    return {"roots": [str(root.path) for root in library.roots()], "count": len(brands),
            "brands": [brand.summary for brand in brands]}


def _stamp(brand: Brand) -> list:
    stamp = []
    for path in [*(f.path for f in brand.files), brand.path / METADATA_FILE]:
        try:
            stat = os.stat(path)
            stamp.append([str(path), stat.st_size, stat.st_mtime_ns])
        except OSError:
            stamp.append([str(path), None, None])
    return stamp


def etag_of(brand: Brand) -> str:
    digest = hashlib.sha256(json.dumps(_stamp(brand)).encode()).hexdigest()[:32]
    return f'"{digest}"'


def _file_info(file: BrandFile, default: bool) -> dict:
    info = {"role": file.role, "version": file.version, "file": file.relative, "lora_name": file.lora_name,
            "default": default}
    try:
        summary = inspect_header(read_header(file.path))
    except LoraFileError as exc:
        return {**info, "error": exc.problem}
    meta = summary.metadata
    return {**info, "size_bytes": summary.size_bytes, "layout": summary.layout, "family": summary.family,
            "family_source": summary.family_source, "rank": summary.rank, "alpha": summary.alpha,
            "modules": summary.modules, "trigger_words": summary.trigger_words, "title": summary.title,
            "content_hash": next((meta[k] for k in CONTENT_HASH_KEYS if meta.get(k)), None),
            "training": {name: meta[key] for name, key in TRAINING_KEYS.items() if key in meta}}


def _defaults(library: BrandLibrary, brand: Brand) -> set[str]:
    """Relative names of the files each role resolves to by default (pinned or newest)."""
    chosen = set()
    for role in brand.roles:
        try:
            chosen.add(library.resolve(BrandRef(brand.brand_id, role)).file.relative)
        except (OSError, ValueError):
            continue
    return chosen


def build_metadata(library: BrandLibrary, brand: Brand) -> dict:
    sidecar = library.sidecar(brand)
    defaults = _defaults(library, brand)
    notes = sidecar.data.get("versions", {})
    labels = sorted({f.version for f in brand.files}, key=lambda v: parse_version(v) if v else (), reverse=True)
    versions = [{"version": label, "notes": notes.get(label, {}) if label else {},
                 "files": [_file_info(f, f.relative in defaults) for f in brand.files if f.version == label]}
                for label in labels]
    data = sidecar.data
    return {
        "brand_id": brand.brand_id, "roles": brand.roles, "primary_role": PRIMARY_ROLE,
        "description": data.get("description", ""), "base_model": data.get("base_model"),
        "trigger_words": data.get("trigger_words", []), "training": data.get("training", {}),
        "default_version": sidecar.default_version, "ab_arms": sidecar.ab_arms, "versions": versions,
        "metadata_file": brand.has_metadata, "metadata_error": sidecar.error,
        "refused_files": list(brand.refused), "ignored_files": list(brand.ignored),
    }


class MetadataMemo:
    """Bodies of ``/lora/{brand_id}/metadata`` by ETag, rebuilt only when a file of the brand changes."""

    def __init__(self, library: BrandLibrary) -> None:
        self.library = library
        self._lock = threading.Lock()
        self._bodies: dict[str, tuple[str, dict]] = {}

    def etag(self, brand_id: object) -> str:
        """The current ETag (stat calls only), to answer ``If-None-Match`` without reading headers."""
        return etag_of(self.library.get(brand_id))

    def get(self, brand_id: object) -> tuple[str, dict]:
        """(ETag, body) for a brand; raises BrandIdError / BrandNotFoundError like the library."""
        brand = self.library.get(brand_id)
        etag = etag_of(brand)
        with self._lock:
            cached = self._bodies.get(brand.brand_id)
        if cached is not None and cached[0] == etag:
            return cached
        body = {**build_metadata(self.library, brand), "etag": etag}
        with self._lock:
            if len(self._bodies) >= MEMO_LIMIT:
                self._bodies.clear()
            self._bodies[brand.brand_id] = (etag, body)
        return etag, body
