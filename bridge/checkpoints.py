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


def _file_key(path: str) -> tuple:
    stat = os.stat(path)
    return (path, stat.st_size, stat.st_mtime_ns)


def _load(path: str) -> tuple:
    import comfy.sd
    import folder_paths

    out = comfy.sd.load_checkpoint_guess_config(path, output_vae=True, output_clip=True,
                                                embedding_directory=folder_paths.get_folder_paths("embeddings"))
    return tuple(out[:3])


def load_checkpoints(names: Sequence[str]) -> tuple[dict[str, tuple], int]:
    """({name: (MODEL, CLIP, VAE)} for the distinct ``names``, how many were read from disk)."""
    with _lock:
        loaded, from_disk = {}, 0
        for name in dict.fromkeys(names):
            path = str(folders.resolve("checkpoints", name))
            key = _file_key(path)
            cached = _cache.get(name)
            if cached is not None and cached[0] == key:
                loaded[name] = cached[1]
            else:
                loaded[name], from_disk = _load(path), from_disk + 1
            _cache[name] = (key, loaded[name])
        for stale in set(_cache) - set(loaded):
            del _cache[stale]
        return loaded, from_disk
