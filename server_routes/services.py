"""What route handlers (and nodes) need, resolved once: paths, the shared store, capability engines.

Inside ComfyUI the bridge builds one instance from ComfyUI's folders and user dir (``bridge.services.shared_services``)
and both the routes and the nodes use it; tests and standalone servers build one from plain directories.
Handlers never reach for globals. Capabilities add fields (with defaults) for what they share.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..engines.lora_format.metadata import PACK_VERSION
from ..engines.store import Database

if TYPE_CHECKING:
    from ..engines.explorer import Explorer

DATABASE_FILE = "lora_lab.sqlite"


@dataclass
class Services:
    data_dir: Path
    lora_dirs: Callable[[], list[Path]] = field(default=lambda: [])
    checkpoint_names: Callable[[], list[str]] = field(default=lambda: [])
    version: str = PACK_VERSION
    refiner_model_dirs: Callable[[], list[Path]] = field(default=lambda: [])  # the prompt_refiner model folders
    refiner_fixed: tuple[Path, Path] | None = None  # (base dir, adapter dir) pinned by `lora-lab refiner serve`
    _database: Database | None = field(default=None, init=False, repr=False)
    _refiner: object = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _discovery: object | None = field(default=None, init=False, repr=False)
    _explorer: Explorer | None = field(default=None, init=False, repr=False)
    _brands: object = field(default=None, init=False, repr=False)

    @property
    def database(self) -> Database:
        """The pack's SQLite file (``<data_dir>/lora_lab.sqlite``), opened on first use."""
        with self._lock:
            if self._database is None:
                self._database = Database(Path(self.data_dir) / DATABASE_FILE)
            return self._database

    @property
    def refiner(self):
        """The PromptRefiner service (model folders, route settings in ``<data_dir>/prompt_refiner.json``, cache)."""
        from ..engines.refiner.service import SETTINGS_FILE, RefinerService

        with self._lock:
            if self._refiner is None:
                self._refiner = RefinerService(self.refiner_model_dirs, Path(self.data_dir) / SETTINGS_FILE,
                                               self.refiner_fixed)
            return self._refiner

    @property
    def discovery(self):
        """The LoRA library index and discovery engine over ``lora_dirs`` (created on first use, never scanning)."""
        from ..engines.discovery import LibraryRoot, LoraLibrary

        database = self.database
        with self._lock:
            if self._discovery is None:
                self._discovery = LoraLibrary(database, lambda: [LibraryRoot(str(p)) for p in self.lora_dirs()])
            return self._discovery

    @property
    def explorer(self) -> Explorer:
        """CheckpointExplorer over the shared store and ``<data_dir>/checkpoint_pools.json`` (numpy is
        imported on first use, not when the routes are registered)."""
        from ..engines.explorer import Explorer
        from ..engines.explorer.pools import POOLS_FILE

        database = self.database
        with self._lock:
            if self._explorer is None:
                self._explorer = Explorer(database, Path(self.data_dir) / POOLS_FILE, self.checkpoint_names)
            return self._explorer

    @property
    def brands(self):
        """The brand library and LoRA cache (``engines.brands.BrandService``), created on first use from the
        environment (``LORA_CACHE_*``, ``LORA_BASE_DIR``) and ``lora_dirs``: one per process, so the
        BrandLoRAStack node and the ``/lora/...`` routes share one cache."""
        from ..engines.brands import BrandService

        with self._lock:
            if self._brands is None:
                self._brands = BrandService.from_env(os.environ, self.lora_dirs)
            return self._brands
