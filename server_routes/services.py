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
    version: str = PACK_VERSION
    _database: Database | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    checkpoint_names: Callable[[], list[str]] = field(default=lambda: [])
    _explorer: Explorer | None = field(default=None, init=False, repr=False)

    @property
    def database(self) -> Database:
        """The pack's SQLite file (``<data_dir>/lora_lab.sqlite``), opened on first use."""
        with self._lock:
            if self._database is None:
                self._database = Database(Path(self.data_dir) / DATABASE_FILE)
            return self._database

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
