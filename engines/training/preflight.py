"""The preflight report: every problem of a dataset, found before any model is loaded.

Users of every trainer ask for the same thing: no crash an hour into a run because image 212 is
truncated. :func:`preflight` opens every image (decodes it, so truncated files are caught), reads every
caption and lists all problems at once, each naming the file, what is wrong and what to do. Errors stop
training; warnings are trained around (and said so).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from .dataset import (
    CAPTION_EXTENSION, TRIGGER_PLACEHOLDER, DatasetItem, FolderScan, apply_trigger, find_caption, has_trigger,
    scan_folder, tag_frequency,
)

ERROR, WARNING, INFO = "error", "warning", "info"

# code -> (severity, what to do). The message itself names the file and what was found.
ISSUES: dict[str, tuple[str, str]] = {
    "no_images": (ERROR, "put .png/.jpg/.jpeg/.webp/.bmp images in the folder or in kohya N_name subfolders"),
    "missing_caption": (ERROR, "write a same-name .txt caption, add it to metadata.jsonl, or set a caption template"),
    "empty_caption": (ERROR, "write a caption into the file (one line; use [trigger] for the trigger word)"),
    "caption_not_utf8": (ERROR, "save the caption as UTF-8 text"),
    "caption_too_long": (ERROR, "keep captions under 64 KB (only the first line is used)"),
    "trigger_placeholder_without_trigger": (ERROR, "set a trigger word, or remove [trigger] from the caption"),
    "corrupt_image": (ERROR, "re-export or remove the image"),
    "zero_repeats": (ERROR, "a 0_name folder is never trained on: rename it to N_name with N >= 1, or move it out"),
    "bad_metadata": (ERROR, "fix the metadata.jsonl line (one JSON object per line with file_name and text)"),
    "caption_missing_trigger": (WARNING, "the trigger word is prepended to this caption; add it yourself to place it"),
    "image_too_small": (WARNING, "it will be upscaled (blurry); use images at least as large as the resolution"),
    "duplicate_image": (WARNING, "the same image is trained more than once; remove the copy unless intended"),
    "unsupported_file": (WARNING, "ignored; convert it to .png/.jpg/.webp/.bmp if it should be trained on"),
    "orphan_caption": (WARNING, "ignored: no image has this name"),
    "ignored_folder": (WARNING, "ignored: only the folder itself and kohya N_name subfolders are read"),
    "caption_from_folder": (INFO, "the kohya folder's class tokens are used as the caption"),
    "caption_from_template": (INFO, "a caption file is written from the template"),
}


@dataclass(frozen=True)
class Issue:
    code: str
    path: str
    message: str

    @property
    def severity(self) -> str:
        return ISSUES[self.code][0]

    @property
    def hint(self) -> str:
        return ISSUES[self.code][1]

    def text(self) -> str:
        return f"{self.severity.upper():7} {self.code}: {self.path}: {self.message} ({self.hint})"

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "path": self.path, "message": self.message,
                "hint": self.hint}


@dataclass
class ImageFacts:
    width: int
    height: int
    digest: str


@dataclass
class PreflightReport:
    """All problems of a dataset plus what will be trained: items (captions final), repeats, tag frequency."""

    root: Path
    trigger: str
    resolution: int
    items: list[DatasetItem] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    sizes: dict[Path, tuple[int, int]] = field(default_factory=dict)
    captions_to_write: dict[Path, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def num_images(self) -> int:
        return len(self.items)

    @property
    def num_samples(self) -> int:
        """Images counted with their folder's repeats: the samples in one epoch."""
        return sum(item.subset.repeats for item in self.items)

    def codes(self) -> set[str]:
        return {issue.code for issue in self.issues}

    def tag_frequency(self) -> dict[str, dict[str, int]]:
        return tag_frequency(self.items)

    def text(self) -> str:
        head = (f"dataset {self.root}: {self.num_images} images, {self.num_samples} samples per epoch with repeats, "
                f"{len(self.errors)} errors, {len(self.warnings)} warnings")
        return "\n".join([head, *(issue.text() for issue in self.issues)])

    def to_dict(self) -> dict:
        return {"root": str(self.root), "ok": self.ok, "images": self.num_images, "samples_per_epoch": self.num_samples,
                "errors": len(self.errors), "warnings": len(self.warnings),
                "issues": [issue.to_dict() for issue in self.issues]}


class DatasetError(ValueError):
    """Training refused because the preflight found errors; carries the report."""

    def __init__(self, report: PreflightReport) -> None:
        self.report = report
        lines = [issue.text() for issue in report.errors[:20]]
        more = len(report.errors) - len(lines)
        super().__init__(f"dataset {report.root} has {len(report.errors)} problem(s) to fix before training:\n"
                         + "\n".join(lines) + (f"\n... and {more} more" if more > 0 else ""))


def preflight(root: str | os.PathLike[str], trigger: str = "", resolution: int = 512,
              caption_template: str = "") -> PreflightReport:
    """Check a dataset folder completely (images decoded, captions read) without loading any model."""
    scan = scan_folder(root)
    report = PreflightReport(scan.root, trigger.strip(), resolution)
    _folder_issues(scan, report)
    digests: dict[str, Path] = {}
    for image, subset in scan.images:
        facts = _image_facts(image, report)
        if facts is None:
            continue
        _size_and_duplicate_issues(image, facts, digests, report)
        caption = _caption_for(image, subset, scan, report, caption_template)
        if caption is not None:
            report.sizes[image] = (facts.width, facts.height)
            report.items.append(DatasetItem(image, subset, caption[0], caption[1]))
    if not scan.images:
        report.issues.insert(0, Issue("no_images", _rel(scan.root, scan.root),
                                      "no supported images found (looked in the folder and its N_name subfolders)"))
    return report


def checked_preflight(root: str | os.PathLike[str], trigger: str = "", resolution: int = 512,
                      caption_template: str = "") -> PreflightReport:
    """:func:`preflight`, raising :class:`DatasetError` (every problem listed) unless the dataset can be trained on."""
    report = preflight(root, trigger, resolution, caption_template)
    if not report.ok:
        raise DatasetError(report)
    return report


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def _folder_issues(scan: FolderScan, report: PreflightReport) -> None:
    root = scan.root
    for folder in scan.zero_repeat_folders:
        report.issues.append(Issue("zero_repeats", _rel(folder, root), "repeat count is 0"))
    for folder in scan.ignored_folders:
        report.issues.append(Issue("ignored_folder", _rel(folder, root), "subfolder is not named N_name"))
    for path in scan.other_files:
        report.issues.append(Issue("unsupported_file", _rel(path, root), f"'{path.suffix or 'no extension'}' is not a "
                                   "supported image type (png, jpg, jpeg, webp, bmp)"))
    for path in scan.orphan_captions:
        report.issues.append(Issue("orphan_caption", _rel(path, root), "caption without an image"))
    for path, problem in scan.metadata_problems:
        report.issues.append(Issue("bad_metadata", _rel(path, root), problem))


def _image_facts(image: Path, report: PreflightReport) -> ImageFacts | None:
    """Decode the image fully (truncated files only fail on decode) and hash its bytes."""
    from PIL import Image

    try:
        data = image.read_bytes()
        with Image.open(image) as handle:
            handle.load()
            width, height = handle.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        report.issues.append(Issue("corrupt_image", _rel(image, report.root), f"cannot be decoded ({exc})"))
        return None
    return ImageFacts(width, height, hashlib.sha256(data).hexdigest())


def _size_and_duplicate_issues(image: Path, facts: ImageFacts, digests: dict[str, Path],
                               report: PreflightReport) -> None:
    root = report.root
    if facts.width * facts.height < report.resolution * report.resolution:
        report.issues.append(Issue("image_too_small", _rel(image, root), f"{facts.width}x{facts.height} has fewer "
                                   f"pixels than {report.resolution}x{report.resolution}"))
    first = digests.setdefault(facts.digest, image)
    if first != image:
        report.issues.append(Issue("duplicate_image", _rel(image, root), f"same bytes as {_rel(first, root)}"))


def _caption_for(image: Path, subset, scan: FolderScan, report: PreflightReport,
                 template: str) -> tuple[str, str] | None:
    """(final caption, source) or None when the image cannot be trained (an error was recorded)."""
    root, trigger = report.root, report.trigger
    found = find_caption(image, subset, scan)
    caption_file = _rel(image.with_suffix(CAPTION_EXTENSION), root)
    if found.problem == "missing" and template:
        found.text, found.source = template, "template"
        report.captions_to_write[image.with_suffix(CAPTION_EXTENSION)] = template
        report.issues.append(Issue("caption_from_template", caption_file, f"missing; will contain '{template}'"))
    elif found.problem:
        code, message = _caption_problem(found.problem, image, root)
        report.issues.append(Issue(code, caption_file if found.source == "txt" or code == "missing_caption"
                                   else _rel(image, root), message))
        return None
    if found.source == "class_tokens":
        report.issues.append(Issue("caption_from_folder", _rel(image, root), f"no caption; using '{found.text}'"))
    if TRIGGER_PLACEHOLDER in found.text and not trigger:
        report.issues.append(Issue("trigger_placeholder_without_trigger", caption_file, "caption uses [trigger]"))
        return None
    caption = apply_trigger(found.text, trigger)
    if not has_trigger(caption, trigger):
        report.issues.append(Issue("caption_missing_trigger", caption_file,
                                   f"caption '{caption[:60]}' does not contain the trigger '{trigger}'"))
        caption = f"{trigger}, {caption}"
    return caption, found.source


def _caption_problem(problem: str, image: Path, root: Path) -> tuple[str, str]:
    if problem == "missing":
        return "missing_caption", f"no caption for {_rel(image, root)} (no .txt file, no metadata.jsonl entry)"
    if problem == "empty":
        return "empty_caption", "caption is empty"
    if problem == "too_long":
        return "caption_too_long", "caption file is larger than 64 KB"
    offset = problem.split(":", 1)[1]
    return "caption_not_utf8", f"byte {offset} is not valid UTF-8"


def write_missing_captions(report: PreflightReport) -> list[Path]:
    """Create the caption files the template filled in (never overwriting an existing file)."""
    written = []
    for path, text in report.captions_to_write.items():
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except FileExistsError:
            continue
        written.append(path)
    return written
