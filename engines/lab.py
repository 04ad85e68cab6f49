"""The composition root: one ``Lab`` holds everything the nodes, the routes and the CLI share.

Inside ComfyUI the bridge builds one from ComfyUI's folders and user dir (``bridge.services.shared_lab``);
the CLI, the benchmarks and the tests build one from plain directories. Each capability object is created
on first use (so building a Lab imports nothing heavy and touches no disk) and is then shared by every
caller of this Lab, e.g. the Brand LoRA Stack node and the ``/lora_lab/brands`` routes use one LoRA cache.

Follow a feature from here: ``lab.discovery`` -> :mod:`.discovery`, ``lab.explorer`` -> :mod:`.explorer`,
``lab.brands`` -> :mod:`.brands`, ``lab.refiner`` -> :mod:`.refiner`, ``lab.database`` -> :mod:`.store`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .lora_format.metadata import PACK_VERSION
from .store import Database

if TYPE_CHECKING:
    from .brands import BrandService
    from .discovery import LoraLibrary
    from .explorer import Explorer
    from .prompt_refiner.service import RefinerService

DATABASE_FILE = "lora_lab.sqlite"


def _no_paths() -> list[Path]:
    return []


def _no_names() -> list[str]:
    return []


@dataclass
class Lab:
    """Paths and model-folder callables in; the shared store and capability services out (created lazily)."""

    data_dir: Path  # the pack's state: the SQLite file, pools, refiner settings
    lora_dirs: Callable[[], list[Path]] = _no_paths  # ComfyUI's "loras" folders, re-read on every call
    checkpoint_names: Callable[[], list[str]] = _no_names  # installed checkpoints, as CheckpointLoader lists them
    version: str = PACK_VERSION
    refiner_model_dirs: Callable[[], list[Path]] = _no_paths  # the prompt_refiner model folders
    refiner_fixed: tuple[Path, Path] | None = None  # (base dir, adapter dir) pinned by `lora-lab refiner serve`
    _database: Database | None = field(default=None, init=False, repr=False)
    _discovery: LoraLibrary | None = field(default=None, init=False, repr=False)
    _explorer: Explorer | None = field(default=None, init=False, repr=False)
    _brands: BrandService | None = field(default=None, init=False, repr=False)
    _refiner: RefinerService | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def database(self) -> Database:
        """The pack's SQLite file (``<data_dir>/lora_lab.sqlite``), opened on first use."""
        with self._lock:
            if self._database is None:
                self._database = Database(Path(self.data_dir) / DATABASE_FILE)
            return self._database

    @property
    def discovery(self) -> LoraLibrary:
        """The LoRA library index and discovery engine over ``lora_dirs`` (created on first use, never scanning)."""
        from .discovery import LibraryRoot, LoraLibrary

        database = self.database
        with self._lock:
            if self._discovery is None:
                self._discovery = LoraLibrary(database, lambda: [LibraryRoot(str(p)) for p in self.lora_dirs()])
            return self._discovery

    @property
    def explorer(self) -> Explorer:
        """CheckpointExplorer over the shared store and ``<data_dir>/checkpoint_pools.json`` (numpy is
        imported on first use, not when the routes are registered)."""
        from .explorer import Explorer
        from .explorer.pools import POOLS_FILE

        database = self.database
        with self._lock:
            if self._explorer is None:
                self._explorer = Explorer(database, Path(self.data_dir) / POOLS_FILE, self.checkpoint_names)
            return self._explorer

    @property
    def brands(self) -> BrandService:
        """The brand library and LoRA cache, created on first use from the environment (``LORA_CACHE_*``,
        ``LORA_BASE_DIR``) and ``lora_dirs``."""
        from .brands import BrandService

        with self._lock:
            if self._brands is None:
                self._brands = BrandService.from_env(os.environ, self.lora_dirs)
            return self._brands

    @property
    def refiner(self) -> RefinerService:
        """The PromptRefiner service (model folders, route settings in ``<data_dir>/prompt_refiner.json``, cache)."""
        from .prompt_refiner.service import SETTINGS_FILE, RefinerService

        with self._lock:
            if self._refiner is None:
                self._refiner = RefinerService(self.refiner_model_dirs, Path(self.data_dir) / SETTINGS_FILE,
                                               self.refiner_fixed)
            return self._refiner
