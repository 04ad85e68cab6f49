"""What route handlers need, resolved once: paths, the store, capability engines.

Inside ComfyUI the root ``__init__`` builds this from the bridge (ComfyUI's folders and user dir); tests
and the standalone server build it from plain directories. Handlers never reach for globals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..engines.lora_format.metadata import PACK_VERSION


@dataclass
class Services:
    data_dir: Path
    lora_dirs: Callable[[], list[Path]] = field(default=lambda: [])
    version: str = PACK_VERSION
