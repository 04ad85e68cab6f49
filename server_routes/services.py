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

from ..engines.lora_format.metadata import PACK_VERSION
from ..engines.store import Database

DATABASE_FILE = "lora_lab.sqlite"


@dataclass
class Services:
    data_dir: Path
    lora_dirs: Callable[[], list[Path]] = field(default=lambda: [])
    version: str = PACK_VERSION
    _database: Database | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _brands: object = field(default=None, init=False, repr=False)

    @property
    def database(self) -> Database:
        """The pack's SQLite file (``<data_dir>/lora_lab.sqlite``), opened on first use."""
        with self._lock:
            if self._database is None:
                self._database = Database(Path(self.data_dir) / DATABASE_FILE)
            return self._database

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
