"""Atomic file writes: readers see the old file or the new one, never half of one, even after a crash.

Every writer of the pack goes through :func:`atomic_target`: write to a temp file in the same folder, fsync it,
move it into place (a rename, or a hard link when an existing file must not be replaced), fsync the folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_target(path: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """A temp path beside ``path`` to write to; when the block ends without error it becomes ``path``.

    With ``overwrite=False`` an existing ``path`` is never replaced: ``FileExistsError`` before the block runs,
    or when the move finds a file that appeared meanwhile (the move is a hard link, which refuses to replace).
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} already exists; choose another name or allow overwriting")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        _fsync_file(temp)
        _move_into_place(temp, path, overwrite)
        _fsync_dir(path.parent)
    finally:
        temp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str, overwrite: bool = True) -> Path:
    """Write UTF-8 text atomically; replaces ``path`` unless ``overwrite=False`` (use that for files a user names)."""
    with atomic_target(path, overwrite) as temp:
        temp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], body: object, overwrite: bool = True, *, indent: int = 2,
                      sort_keys: bool = False) -> Path:
    """Write ``body`` as JSON (UTF-8, a final newline) atomically; replaces ``path`` unless ``overwrite=False``."""
    text = json.dumps(body, indent=indent, sort_keys=sort_keys, ensure_ascii=False) + "\n"
    return write_text_atomic(path, text, overwrite)


def _move_into_place(temp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; choose another name or allow overwriting") from None
    except OSError:  # file systems without hard links: the exists() check before writing is the guard
        if path.exists():
            raise FileExistsError(f"{path} already exists; choose another name or allow overwriting") from None
        os.replace(temp, path)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform (Windows)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
