"""Finding the training images and their captions in a folder, the way the common trainers lay them out.

Supported layouts, all at once:

- images with same-name ``.txt`` captions (``cat.png`` + ``cat.txt``), directly in the dataset folder;
- kohya repeat folders ``N_name`` (``10_ohwx cat/``): every image counts N times per epoch; ``name`` is the
  class-token fallback caption kohya uses when an image has no caption file;
- a ``metadata.jsonl`` (diffusers/HF imagefolder: ``{"file_name": "cat.png", "text": "..."}``) in the dataset
  folder or a repeat folder, used for images without a ``.txt``;
- ``[trigger]`` in a caption is replaced by the trigger word.

Scanning only lists files and reads captions (bounded); images are opened by :mod:`.preflight`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})
CAPTION_EXTENSION = ".txt"
METADATA_FILE = "metadata.jsonl"
IGNORED_FILES = frozenset({METADATA_FILE, ".DS_Store", "Thumbs.db", "desktop.ini"})
TRIGGER_PLACEHOLDER = "[trigger]"
MAX_CAPTION_BYTES = 64 * 1024
MAX_METADATA_BYTES = 64 * 1024 * 1024
REPEAT_FOLDER = re.compile(r"^(\d+)_(.*)$")


@dataclass(frozen=True)
class Subset:
    """A folder of images: the dataset folder itself (repeats 1) or a kohya ``N_name`` folder."""

    path: Path
    repeats: int
    class_tokens: str = ""

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class CaptionRead:
    """A caption as found for one image: its text (None when unusable) and where it came from."""

    text: str | None
    source: str  # txt | metadata | class_tokens | template | none
    problem: str = ""  # missing | empty | not_utf8 | too_long


@dataclass
class DatasetItem:
    """One training image with its final caption (trigger placeholders already replaced)."""

    image: Path
    subset: Subset
    caption: str
    caption_source: str


@dataclass
class FolderScan:
    """Everything the scan found, before any image is opened."""

    root: Path
    subsets: list[Subset]
    images: list[tuple[Path, Subset]]
    other_files: list[Path]
    orphan_captions: list[Path]
    ignored_folders: list[Path]
    zero_repeat_folders: list[Path]
    metadata_captions: dict[Path, str] = field(default_factory=dict)
    metadata_problems: list[tuple[Path, str]] = field(default_factory=list)


def _entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as iterator:
        return sorted(iterator, key=lambda entry: entry.name)


def find_subsets(root: Path) -> tuple[list[Subset], list[Path], list[Path]]:
    """(subsets to train on, folders ignored, ``0_name`` folders). The root itself is a subset with repeats 1."""
    subsets, ignored, zero = [Subset(root, 1)], [], []
    for entry in _entries(root):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        match = REPEAT_FOLDER.match(entry.name)
        if match is None:
            ignored.append(Path(entry.path))
        elif int(match.group(1)) == 0:
            zero.append(Path(entry.path))
        else:
            subsets.append(Subset(Path(entry.path), int(match.group(1)), match.group(2).strip()))
    return subsets, ignored, zero


def scan_folder(root: str | os.PathLike[str]) -> FolderScan:
    """List images, captions and other files of a dataset folder. Raises FileNotFoundError/NotADirectoryError."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"dataset folder '{root}' does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"dataset '{root}' is a file; expected a folder of images with .txt captions")
    subsets, ignored, zero = find_subsets(root)
    scan = FolderScan(root, subsets, [], [], [], ignored, zero)
    for subset in subsets:
        _scan_subset(subset, scan)
    return scan


def _scan_subset(subset: Subset, scan: FolderScan) -> None:
    files = [entry for entry in _entries(subset.path) if entry.is_file()]
    stems = {Path(e.name).stem for e in files if Path(e.name).suffix.lower() in IMAGE_EXTENSIONS}
    for entry in files:
        path = Path(entry.path)
        suffix = path.suffix.lower()
        if suffix in IMAGE_EXTENSIONS:
            scan.images.append((path, subset))
        elif suffix == CAPTION_EXTENSION:
            if path.stem not in stems and not path.name.startswith("preview"):
                scan.orphan_captions.append(path)
        elif entry.name == METADATA_FILE:
            _read_metadata(path, scan)
        elif entry.name not in IGNORED_FILES and not entry.name.startswith("."):
            scan.other_files.append(path)


def _read_metadata(path: Path, scan: FolderScan) -> None:
    """Captions from a metadata.jsonl (``file_name`` + ``text`` or ``caption``); bad lines become problems."""
    if path.stat().st_size > MAX_METADATA_BYTES:
        scan.metadata_problems.append((path, f"is larger than {MAX_METADATA_BYTES // 2**20} MB"))
        return
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        problem, name, text = _metadata_line(line)
        if problem:
            scan.metadata_problems.append((path, f"line {number}: {problem}"))
            continue
        target = (path.parent / name).resolve()
        if path.parent.resolve() not in target.parents:
            scan.metadata_problems.append((path, f"line {number}: file_name '{name}' points outside the folder"))
            continue
        scan.metadata_captions[target] = text


def _metadata_line(line: bytes) -> tuple[str, str, str]:
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"not a UTF-8 JSON object ({exc})", "", ""
    if not isinstance(record, dict) or not isinstance(record.get("file_name"), str):
        return "expected an object with a \"file_name\" string", "", ""
    text = record.get("text", record.get("caption"))
    if not isinstance(text, str):
        return f"'{record['file_name']}' has no \"text\" (or \"caption\") string", "", ""
    return "", record["file_name"], text


def read_caption_file(path: Path) -> CaptionRead:
    """Read a sidecar caption, bounded; the first non-empty line is the caption (kohya reads the first line)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CAPTION_BYTES + 1)
    except FileNotFoundError:
        return CaptionRead(None, "none", "missing")
    if len(raw) > MAX_CAPTION_BYTES:
        return CaptionRead(None, "txt", "too_long")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return CaptionRead(None, "txt", f"not_utf8:{exc.start}")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return CaptionRead(lines[0], "txt") if lines else CaptionRead(None, "txt", "empty")


def find_caption(image: Path, subset: Subset, scan: FolderScan) -> CaptionRead:
    """The caption of one image: its .txt, else metadata.jsonl, else the kohya folder's class tokens."""
    found = read_caption_file(image.with_suffix(CAPTION_EXTENSION))
    if found.problem != "missing":
        return found
    text = scan.metadata_captions.get(image.resolve())
    if text is not None:
        return CaptionRead(text.strip(), "metadata") if text.strip() else CaptionRead(None, "metadata", "empty")
    if subset.class_tokens:
        return CaptionRead(subset.class_tokens, "class_tokens")
    return found


def apply_trigger(caption: str, trigger: str) -> str:
    """Replace ``[trigger]`` placeholders with the trigger word."""
    return caption.replace(TRIGGER_PLACEHOLDER, trigger) if trigger else caption


def has_trigger(caption: str, trigger: str) -> bool:
    """True when the trigger appears as a whole word/phrase (case-insensitive)."""
    if not trigger:
        return True
    return re.search(rf"(?<!\w){re.escape(trigger)}(?!\w)", caption, flags=re.IGNORECASE) is not None


def tag_frequency(items: list[DatasetItem]) -> dict[str, dict[str, int]]:
    """kohya's ``ss_tag_frequency``: per folder name, how often each comma-separated tag occurs."""
    frequency: dict[str, dict[str, int]] = {}
    for item in items:
        tags = frequency.setdefault(item.subset.name, {})
        for tag in (part.strip() for part in item.caption.split(",")):
            if tag:
                tags[tag] = tags.get(tag, 0) + 1
    return frequency


def iter_repeated(items: list[DatasetItem]) -> Iterator[int]:
    """Indices of ``items``, each as many times as its folder's repeat count (the epoch's sample list)."""
    for index, item in enumerate(items):
        for _ in range(item.subset.repeats):
            yield index
