"""AutoLoRADiscover's engine: a LoRA library index and prompt-to-LoRA discovery that learns from picks.

Typical use::

    library = LoraLibrary(database, roots=lambda: [LibraryRoot("/models/loras")])
    library.start_refresh()                     # background; start-up never waits
    library.upsert("/models/loras/new.safetensors")  # a writer registers a new file at once
    result = library.discover("ghibli style castle", DiscoverOptions(family="sd15"))
    result.picks[0].name, result.picks[0].strength, result.picks[0].reasons

Names-only ranking (a remote ComfyUI's LoraLoader list): :func:`names_only_index`.
"""

from __future__ import annotations

from .discover import run_discovery
from .entry import LibraryEntry
from .library import LoraLibrary
from .names_only import loraloader_names, names_only_index
from .options import DiscoverOptions, DiscoveryResult, Pick, Variant
from .scanner import LibraryRoot, ScanReport

__all__ = ["DiscoverOptions", "DiscoveryResult", "LibraryEntry", "LibraryRoot", "LoraLibrary", "Pick",
           "ScanReport", "Variant", "loraloader_names", "names_only_index", "run_discovery"]
