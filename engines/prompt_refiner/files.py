"""Bounded JSON reads for the refiner's small side files (pairs, configs, metadata); writes are
:func:`..common.atomic.write_json_atomic`, re-exported here for the refiner's modules."""

from __future__ import annotations

import json
from pathlib import Path

from ..common.atomic import write_json_atomic

__all__ = ["MAX_JSON_BYTES", "read_json", "write_json_atomic"]

MAX_JSON_BYTES = 1024 * 1024


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
