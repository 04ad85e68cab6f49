"""Bounded, validating access to safetensors files, and atomic writes.

``read_header`` reads 8 bytes plus the JSON header and nothing else, so scanning a library of 70k LoRAs
costs one small read per file. Every length taken from the file is checked against the file size and a
cap before anything is allocated: a corrupt or hostile header gives a clear error, never a 200 MB
allocation. Full loads go through the ``safetensors`` library only; pickle formats are refused.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..common.atomic import atomic_target
from .errors import HeaderError, LoraFileError, OutputExistsError, TruncatedFileError, UnsafeFileError

MAX_HEADER_BYTES = 64 * 1024 * 1024
"""Largest header we accept. Real LoRA headers are KBs to a few MB (``ss_tag_frequency``)."""

SAFETENSORS_SUFFIXES = frozenset({".safetensors", ".sft"})
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})

DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
}


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in the file, as the header declares it."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    """A validated header: tensor layout and ``__metadata__`` strings, with sizes for accounting."""

    path: Path
    file_size: int
    header_size: int
    tensors: Mapping[str, TensorInfo]
    metadata: Mapping[str, str]

    @property
    def data_start(self) -> int:
        return 8 + self.header_size

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: info.shape for name, info in self.tensors.items()}


def check_suffix(path: str | os.PathLike[str]) -> Path:
    """Refuse pickle files by name before opening them, and anything that is not safetensors."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise UnsafeFileError(
            path,
            f"'{suffix}' files are Python pickles, which can run arbitrary code when loaded",
            "Convert it to .safetensors with a tool you trust, or download the .safetensors version",
        )
    if suffix not in SAFETENSORS_SUFFIXES:
        raise LoraFileError(path, f"expected a .safetensors file, got '{suffix or 'no extension'}'")
    return path


def read_header(path: str | os.PathLike[str], max_header_bytes: int = MAX_HEADER_BYTES) -> SafetensorsHeader:
    """Read and validate the header only (8 + header-length bytes are read)."""
    path = check_suffix(path)
    try:
        with open(path, "rb") as handle:
            file_size = os.fstat(handle.fileno()).st_size
            header_size = _read_header_length(path, handle.read(8), file_size, max_header_bytes)
            raw = handle.read(header_size)
    except FileNotFoundError:
        raise LoraFileError(path, "file not found") from None
    except IsADirectoryError:
        raise LoraFileError(path, "is a directory, expected a .safetensors file") from None
    except PermissionError:
        raise LoraFileError(path, "permission denied while reading") from None
    if len(raw) != header_size:
        raise TruncatedFileError(path, f"header is {header_size} bytes but only {len(raw)} could be read")
    document = _parse_header_json(path, raw)
    metadata = _parse_metadata(path, document.pop("__metadata__", None))
    data_size = file_size - 8 - header_size
    tensors = {name: _parse_tensor_entry(path, name, entry, data_size) for name, entry in document.items()}
    return SafetensorsHeader(path, file_size, header_size, tensors, metadata)


def _read_header_length(path: Path, prefix: bytes, file_size: int, cap: int) -> int:
    if len(prefix) < 8:
        raise TruncatedFileError(path, f"file is {file_size} bytes, too short to hold a safetensors header")
    (header_size,) = struct.unpack("<Q", prefix)
    if header_size > cap:
        raise HeaderError(
            path, f"header claims {header_size:,} bytes, more than the {cap:,}-byte limit",
            "The file is corrupt or not a safetensors file",
        )
    if header_size > file_size - 8:
        raise HeaderError(
            path, f"header length {header_size:,} runs past the end of the file ({file_size:,} bytes)",
            "The file is truncated or not a safetensors file",
        )
    return header_size


def _parse_header_json(path: Path, raw: bytes) -> dict:
    try:
        document = json.loads(raw.decode("utf-8").rstrip(" "))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HeaderError(path, f"header is not valid JSON ({exc})", "The file is corrupt") from None
    if not isinstance(document, dict):
        raise HeaderError(path, f"header must be a JSON object, found {type(document).__name__}")
    return document


def _parse_metadata(path: Path, metadata: object) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise HeaderError(path, "__metadata__ must be a JSON object of strings")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise HeaderError(path, f"__metadata__ value for '{key}' is {type(value).__name__}, expected a string")
    return metadata


def _parse_tensor_entry(path: Path, name: str, entry: object, data_size: int) -> TensorInfo:
    if not isinstance(entry, dict):
        raise HeaderError(path, f"tensor '{name}' has no dtype/shape/data_offsets entry")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    valid_shape = isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
    valid_offsets = (
        isinstance(offsets, list) and len(offsets) == 2
        and all(isinstance(o, int) for o in offsets) and 0 <= offsets[0] <= offsets[1]
    )
    if not isinstance(dtype, str) or not valid_shape or not valid_offsets:
        raise HeaderError(path, f"tensor '{name}' has a malformed entry {json.dumps(entry)[:200]}")
    start, end = offsets
    if end > data_size:
        raise TruncatedFileError(
            path, f"tensor '{name}' needs data up to byte {end:,} but the file holds {data_size:,} data bytes",
            "The file is truncated (an interrupted download or copy?)",
        )
    itemsize = DTYPE_BYTES.get(dtype)
    if itemsize is not None:
        numel = 1
        for dim in shape:
            numel *= dim
        if numel * itemsize != end - start:
            raise HeaderError(path, f"tensor '{name}' ({dtype} {shape}) does not match its {end - start} data bytes")
    return TensorInfo(dtype, tuple(shape), start, end)


_SCALAR_FORMATS = {"F64": "<d", "F32": "<f", "F16": "<e", "I64": "<q", "I32": "<i"}


def read_scalars(header: SafetensorsHeader, names: list[str]) -> dict[str, float]:
    """Read scalar tensors (``alpha`` values) by offset with one open: a few bytes each, no full load."""
    values: dict[str, float] = {}
    if not names:
        return values
    with open(header.path, "rb") as handle:
        for name in names:
            info = header.tensors[name]
            if info.end - info.start > 8 or (info.dtype not in _SCALAR_FORMATS and info.dtype != "BF16"):
                raise LoraFileError(header.path, f"'{name}' is not a float scalar ({info.dtype} {list(info.shape)})")
            handle.seek(header.data_start + info.start)
            raw = handle.read(info.end - info.start)
            if info.dtype == "BF16":
                values[name] = struct.unpack("<f", b"\x00\x00" + raw)[0]
            else:
                values[name] = float(struct.unpack(_SCALAR_FORMATS[info.dtype], raw)[0])
    return values


def load_tensors(path: str | os.PathLike[str]) -> tuple[dict, dict[str, str]]:
    """Validate the header, then load every tensor through safetensors (CPU). Returns (tensors, metadata)."""
    from safetensors.torch import load_file

    header = read_header(path)
    try:
        tensors = load_file(str(header.path), device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorError for corrupt data
        raise LoraFileError(header.path, f"could not load tensors ({exc})") from None
    return tensors, dict(header.metadata)


def save_tensors(
    path: str | os.PathLike[str],
    tensors: Mapping,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write atomically: a temp file in the same folder, fsync, then link/rename into place.

    Without ``overwrite`` an existing file is never replaced, even by a concurrent writer (a hard link
    fails if the name exists). A failure at any point (disk full, bad tensor) leaves no partial file.
    """
    from safetensors.torch import save_file

    path = check_suffix(path)
    metadata = dict(metadata or {})
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise LoraFileError(path, f"metadata '{key}' must be a string, got {type(value).__name__}")
    if not overwrite and path.exists():
        raise OutputExistsError(path, "already exists", "Choose another name or allow overwriting")
    contiguous = {name: tensor.detach().contiguous() for name, tensor in tensors.items()}
    try:
        with atomic_target(path, overwrite) as temp:
            save_file(contiguous, str(temp), metadata=metadata)
    except FileExistsError:
        raise OutputExistsError(path, "already exists", "Choose another name or allow overwriting") from None
    return path
