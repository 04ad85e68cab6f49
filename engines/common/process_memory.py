"""Memory a long-lived process gets back after a big run (ComfyUI's server runs for days on one process).

glibc serves a block from an mmap of its own when it is at least the mmap threshold (returned to the system
when freed) and from its heap arenas otherwise (kept by the process unless whole pages at an arena's top are
free). By default the threshold rises each time a mmapped block is freed, up to 32 MiB, so once a model has
been freed the next run's tensors of up to 32 MiB come from the arenas, where a few live blocks pin the pages
around them. Measured in a real ComfyUI 0.8 on the CPU, with no tensor alive after ``POST /free`` (counted
through ``gc``): resident memory grew by 1.1-1.6 GB per LoRA Trainer run, and ``malloc_trim`` gave back only
170 MB of it. Fixing the threshold at 1 MiB (``mallopt``, which also stops the rise) keeps every tensor of
1 MiB or more in a block of its own: the same runs then grew by about 0.1 GB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 1 << 20


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    if not name or "libc" not in name:
        return None  # musl, macOS, Windows: other allocators, nothing of this applies
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def keep_large_blocks_returnable(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Serve blocks of ``threshold`` bytes and more from mmaps of their own for the rest of the process, so
    freed tensors go back to the system; once per process. False where the C library is not glibc."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, int(threshold)) == 1)


def return_freed_memory() -> None:
    """Give freed memory back: collect cycles, empty the CUDA cache, and ask glibc to return the free pages
    inside its arenas (``malloc_trim``), what :func:`keep_large_blocks_returnable` does not cover."""
    gc.collect()
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
