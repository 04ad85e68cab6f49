"""The panel's settings (Explore or Quick, auto-LoRA, prompt categories), stored in the pack's SQLite file.

The CheckpointExplorer node in "follow panel" mode and ``lora-lab queue`` without ``--explore/--quick``
read them, so one toggle in the panel steers every way of queueing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from ..store import Database, Migration
from .config import MODES

log = logging.getLogger("lora_lab.explorer")
COMPONENT = "explorer"
MIGRATIONS = (Migration(1, "CREATE TABLE explorer_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"),)


@dataclass(frozen=True)
class PanelSettings:
    mode: str = "explore"
    auto_lora: bool = False
    prompt_categories: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"settings.mode must be one of {list(MODES)}, got {self.mode!r}")
        for name in ("auto_lora", "prompt_categories"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"settings.{name} must be true or false, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def updated(self, changes: Mapping[str, object]) -> PanelSettings:
        """A copy with ``changes`` applied; unknown keys are refused (a typo must not pass silently)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; known: {sorted(known)}")
        return replace(self, **dict(changes))


def load_settings(db: Database) -> PanelSettings:
    db.migrate(COMPONENT, MIGRATIONS)
    stored = {r["key"]: json.loads(r["value"]) for r in db.read("SELECT key, value FROM explorer_settings")}
    known = {f.name for f in fields(PanelSettings)}
    try:
        return PanelSettings().updated({k: v for k, v in stored.items() if k in known})
    except ValueError as exc:
        log.warning("LoRA Lab: stored panel settings are invalid (%s); using the defaults", exc)
        return PanelSettings()


def save_settings(db: Database, settings: PanelSettings) -> PanelSettings:
    db.migrate(COMPONENT, MIGRATIONS)
    with db.transaction() as conn:
        conn.executemany("INSERT INTO explorer_settings(key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         [(k, json.dumps(v)) for k, v in settings.to_dict().items()])
    return settings
