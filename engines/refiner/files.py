"""Atomic JSON writes and bounded JSON reads for the refiner's small side files (pairs, configs, metadata)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

MAX_JSON_BYTES = 1024 * 1024


def write_json_atomic(path: str | os.PathLike[str], body, overwrite: bool = False) -> Path:
    """Write JSON through a temp file in the same folder, fsync, then rename; refuse to replace unless asked."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another name or allow overwriting")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=1, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return path


def read_json(path: Path, what: str, max_bytes: int = MAX_JSON_BYTES) -> dict:
    """A JSON object from ``path``, refusing files over ``max_bytes``; errors name the file and what it is."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} is missing")
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{what} {path} is {size} bytes; the limit is {max_bytes}")
    try:
        body = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{what} {path} is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ValueError(f"{what} {path} must hold a JSON object, not {type(body).__name__}")
    return body
