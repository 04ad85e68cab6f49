"""Walk the LoRA folders, compare with what is stored, and read only new or changed files.

A file is read again only when its size, mtime or sidecar signature changed (the index is keyed by path,
size and mtime). Reading means the header (exactly 8 + header-length bytes) and the small sidecar JSON
files; tensors are never read and files are never hashed. Anything that goes wrong with one file or
folder (unreadable, vanished mid-scan, bad header, bad sidecar, a name that is not UTF-8) becomes a
warning on that file or a skipped entry with a reason: the scan as a whole never fails.
"""

from __future__ import annotations

import os
import stat as stat_module
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .entry import LibraryEntry, derive_entry
from .headers import HeaderReadError, header_facts, read_raw_header
from .sidecars import SidecarInfo, read_sidecars, sidecar_names
from .store import FileKey

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl")  # the rest of what LoraLoader lists
MAX_SKIPPED_LISTED = 50
EXCLUDED_DIRS = frozenset({".git"})  # as ComfyUI's folder listing


@dataclass(frozen=True)
class LibraryRoot:
    """A folder whose files ComfyUI lists as LoRAs (``label`` says where it came from)."""

    path: str
    label: str = "loras"


@dataclass(frozen=True)
class FoundFile:
    root: str
    directory: str
    name: str  # relative to the root, "/"-separated: the name LoraLoader lists
    file_name: str
    key: FileKey
    siblings: frozenset[str]

    @property
    def path(self) -> str:
        return os.path.join(self.directory, self.file_name)


@dataclass
class WalkResult:
    files: list[FoundFile] = field(default_factory=list)
    failed_directories: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    directories: int = 0


def _sidecar_signature(file_name: str, listing: dict[str, os.DirEntry]) -> str:
    parts = []
    for name in sidecar_names(file_name):
        if name in listing:
            try:
                info = listing[name].stat()
                parts.append(f"{name}:{info.st_size}:{info.st_mtime_ns}")
            except OSError:
                continue
    return ";".join(parts)


def list_directory(directory: str, result: WalkResult) -> list[os.DirEntry] | None:
    try:
        with os.scandir(directory) as listing:
            return list(listing)
    except FileNotFoundError:
        result.skipped.append((directory, "the folder disappeared during the scan"))
    except OSError as exc:
        result.failed_directories.append(directory)
        result.skipped.append((directory, f"cannot list the folder ({exc.strerror or exc})"))
    return None


def found_file(root: str, directory: str, item: os.DirEntry, listing: dict[str, os.DirEntry],
               siblings: frozenset[str], result: WalkResult) -> FoundFile | None:
    """The file's identity (size, mtime, sidecars) from its folder listing; None if it is not a regular file."""
    try:
        info = item.stat()
    except OSError as exc:
        result.skipped.append((item.path, f"cannot stat the file ({exc.strerror or exc})"))
        return None
    if not stat_module.S_ISREG(info.st_mode):
        return None
    relative = item.path[len(root):].lstrip(os.sep).replace(os.sep, "/")
    key = FileKey(info.st_size, info.st_mtime_ns, _sidecar_signature(item.name, listing))
    return FoundFile(root, directory, relative, item.name, key, siblings)


def walk(roots: list[LibraryRoot]) -> WalkResult:
    """Every LoRA-like file under the roots (symlinked folders followed once), with its identity key."""
    result = WalkResult()
    seen_dirs: set[str] = set()
    for root in roots:
        if not os.path.isdir(root.path):
            continue  # a configured folder that does not exist (yet): nothing to list
        stack = [root.path]
        while stack:
            directory = stack.pop()
            real = os.path.realpath(directory)
            if real in seen_dirs:
                continue
            seen_dirs.add(real)
            items = list_directory(directory, result)
            if items is None:
                continue
            result.directories += 1
            listing = {item.name: item for item in items}
            siblings = frozenset(listing)
            for item in sorted(items, key=lambda i: i.name):
                try:
                    is_dir = item.is_dir()
                except OSError:
                    continue
                if is_dir:
                    if item.name not in EXCLUDED_DIRS:
                        stack.append(item.path)
                elif item.name.lower().endswith(SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES):
                    found = found_file(root.path, directory, item, listing, siblings, result)
                    if found is not None:
                        result.files.append(found)
    return result


def _name_warnings(found: FoundFile) -> list[str]:
    try:
        found.name.encode("utf-8")
    except UnicodeEncodeError:
        return ["the file name is not valid UTF-8; it is shown with replacement characters"]
    return []


def index_file(found: FoundFile) -> LibraryEntry:
    """Read one file's header and sidecars into an entry; never raises for a bad file."""
    warnings = _name_warnings(found)
    facts = None
    bytes_read = 0
    if found.file_name.lower().endswith(PICKLE_SUFFIXES):
        warnings.append("a pickle file (.ckpt/.pt/.bin): listed, never opened or picked")
        sidecars = SidecarInfo()
    else:
        try:
            facts = header_facts(read_raw_header(found.path))
        except HeaderReadError as exc:
            warnings.append(exc.reason)
            bytes_read = exc.bytes_read
        sidecars = read_sidecars(found.directory, found.file_name, set(found.siblings))
    entry = derive_entry(found.name, found.path, found.key.size, found.key.mtime_ns, facts, sidecars, warnings)
    if facts is None:
        entry.header_bytes = bytes_read
    if found.file_name.lower().endswith(PICKLE_SUFFIXES):
        entry.format, entry.terms, entry.phrases = "pickle", {}, []
    return entry


def index_files(files: list[FoundFile], workers: int) -> Iterator[LibraryEntry]:
    """Entries in the order of ``files``; header reads overlap in a small thread pool (I/O-bound on cold disks)."""
    if workers <= 1 or len(files) < 2 * workers:
        yield from (index_file(found) for found in files)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lora-lab-scan") as pool:
        yield from pool.map(index_file, files, chunksize=64)


@dataclass
class ScanReport:
    """What one refresh did; ``skipped`` lists at most ``MAX_SKIPPED_LISTED`` (path, reason) pairs."""

    roots: list[str] = field(default_factory=list)
    directories: int = 0
    files: int = 0
    read: int = 0
    unchanged: int = 0
    removed: int = 0
    with_warnings: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    bytes_read: int = 0
    max_bytes_over_header: int = 0
    seconds: float = 0.0
    started: float = field(default_factory=time.time)

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        data["skipped"] = [[os.fsencode(p).decode("utf-8", "replace"), r] for p, r in self.skipped[:MAX_SKIPPED_LISTED]]
        return data
