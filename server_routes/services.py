"""What route handlers (and nodes) need, resolved once: paths, the shared store, capability engines.

Inside ComfyUI the bridge builds one instance from ComfyUI's folders and user dir (``bridge.services.shared_services``)
and both the routes and the nodes use it; tests and standalone servers build one from plain directories.
Handlers never reach for globals. Capabilities add fields (with defaults) for what they share.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..engines.lora_format.metadata import PACK_VERSION
from ..engines.store import Database

DATABASE_FILE = "lora_lab.sqlite"


@dataclass
class Services:
    data_dir: Path
    lora_dirs: Callable[[], list[Path]] = field(default=lambda: [])
    version: str = PACK_VERSION
    refiner_model_dirs: Callable[[], list[Path]] = field(default=lambda: [])  # the prompt_refiner model folders
    refiner_fixed: tuple[Path, Path] | None = None  # (base dir, adapter dir) pinned by `lora-lab refiner serve`
    _database: Database | None = field(default=None, init=False, repr=False)
    _refiner: object = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

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
