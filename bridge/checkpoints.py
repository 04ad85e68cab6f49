"""Load checkpoints with ComfyUI's own loader (what Load Checkpoint does), each one once per batch.

``comfy.sd.load_checkpoint_guess_config`` detects the model type and builds MODEL, CLIP and VAE. The
explorer asks for 2-3 checkpoints per batch; the last batch's set stays cached (keyed by path, size and
modification time), so consecutive batches over the same tier do not re-read multi-GB files, and
checkpoints that left the set are released.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from . import folders

_lock = threading.Lock()
_cache: dict[str, tuple[tuple, tuple]] = {}
load_count = 0  # loads from disk in this process (tests check that each checkpoint loads once)


def _file_key(path: str) -> tuple:
    stat = os.stat(path)
    return (path, stat.st_size, stat.st_mtime_ns)


def _load(path: str) -> tuple:
    import comfy.sd
    import folder_paths

    global load_count
    out = comfy.sd.load_checkpoint_guess_config(path, output_vae=True, output_clip=True,
                                                embedding_directory=folder_paths.get_folder_paths("embeddings"))
    load_count += 1
    return tuple(out[:3])


def load_checkpoints(names: Sequence[str]) -> dict[str, tuple]:
    """{name: (MODEL, CLIP, VAE)} for the distinct ``names``, loading only those not cached."""
    with _lock:
        loaded = {}
        for name in dict.fromkeys(names):
            path = str(folders.resolve("checkpoints", name))
            key = _file_key(path)
            cached = _cache.get(name)
            loaded[name] = cached[1] if cached is not None and cached[0] == key else _load(path)
            _cache[name] = (key, loaded[name])
        for stale in set(_cache) - set(loaded):
            del _cache[stale]
        return loaded
