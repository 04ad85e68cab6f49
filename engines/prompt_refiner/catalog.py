"""What is in the ``prompt_refiner`` model folders: base folders and adapter folders, by name.

A base is a folder with ``config.json``; an adapter is a folder with ``adapter_config.json``. Both are looked
for one and two levels deep (``flan-t5-base/`` or ``google/flan-t5-base/``). Names are paths relative to
their root with ``/``; a name found in two roots resolves to the first. Only names listed here resolve, so a
name from a request or a workflow can never point outside the folders.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .adapter_files import ADAPTER_CONFIG, TRAINING_INFO
from .errors import ModelUnavailableError
from .files import read_json

BASE_MARKER = "config.json"


@dataclass(frozen=True)
class Catalog:
    bases: dict[str, Path]
    adapters: dict[str, Path]

    def base(self, name: str) -> Path:
        if name not in self.bases:
            known = ", ".join(sorted(self.bases)) or "none"
            raise ModelUnavailableError(f"base model '{name}' is not in the prompt_refiner folders (found: {known})")
        return self.bases[name]

    def adapter(self, name: str) -> Path:
        if name not in self.adapters:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise ModelUnavailableError(f"adapter '{name}' is not in the prompt_refiner folders (found: {known})")
        return self.adapters[name]

    def trained_base(self, adapter_name: str) -> str | None:
        """The base name an adapter's training.json names, if that base is here."""
        try:
            info = read_json(self.adapters[adapter_name] / TRAINING_INFO, "adapter training info")
        except (FileNotFoundError, ValueError, KeyError):
            return None
        name = (info.get("base") or {}).get("name")
        return name if name in self.bases else None


def scan(roots: Iterable[Path]) -> Catalog:
    bases: dict[str, Path] = {}
    adapters: dict[str, Path] = {}
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for folder in _candidates(root):
            name = folder.relative_to(root).as_posix()
            if (folder / ADAPTER_CONFIG).is_file():
                adapters.setdefault(name, folder)
            elif (folder / BASE_MARKER).is_file():
                bases.setdefault(name, folder)
    return Catalog(dict(sorted(bases.items())), dict(sorted(adapters.items())))


def _candidates(root: Path) -> list[Path]:
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            found.append(child)
            found += [grand for grand in sorted(child.iterdir()) if grand.is_dir() and not grand.name.startswith(".")]
    return found
