"""The pack's persistent state: one SQLite file in ComfyUI's user directory (``--data-dir`` outside it)."""

from .database import Database, Migration

__all__ = ["Database", "Migration"]
