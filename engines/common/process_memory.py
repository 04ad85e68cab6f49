"""Memory a long-lived process gets back after a big run (ComfyUI's server runs for days on one process).

glibc serves a block from an mmap of its own when it is at least the mmap threshold (returned to the system
as soon as it is freed) and from its heap arenas otherwise (kept by the process until something calls
``malloc_trim``). By default the threshold rises each time a mmapped block is freed, up to 32 MiB, so once
a model has been freed, the next model's tensors of up to 32 MiB come from the arenas. ComfyUI frees what a
run leaves in its caches on ``POST /free``, after our node returned, and nothing trims then: in a real ComfyUI
0.8 on the CPU, with no tensor alive afterwards (counted through ``gc``), resident memory grew by 1.1-1.6 GB
per LoRA Trainer run. With the threshold fixed at 1 MiB (``mallopt``, which also stops the rise), every
tensor of 1 MiB or more has a block of its own and goes back whenever it is freed: the first run ended at
1.2 GB instead of 2.0 GB.

A low threshold costs speed (a fresh mmap per large activation: an SD1.5-shaped UNet step on the CPU ran
15-40% slower in a noisy measurement at load 9), so it holds only while one of our big runs lasts;
afterwards the threshold goes to glibc's own ceiling, where its rise takes it anyway, and the host's
inference runs as before. What the host itself allocated outside our runs (its checkpoint loader, its
sampler) stays in the arenas after ``POST /free`` until the next run reuses it or something trims: after
three trainer-example runs, 4.7 GB resident with no tensor alive fell to 1.1 GB on a ``malloc_trim``, and
the runs did not grow (5.35, 4.32, 4.61 GB).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Iterator

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
RUN_MMAP_THRESHOLD = 1 << 20
HOST_MMAP_THRESHOLD = 32 << 20  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: the ceiling of glibc's own rise


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


@contextlib.contextmanager
def large_blocks_returned() -> Iterator[bool]:
    """Inside: blocks of 1 MiB and more get mmaps of their own, so what the run frees goes back to the system
    (True where the C library is glibc). On the way out: the threshold goes to glibc's ceiling and the freed
    memory is returned (:func:`return_freed_memory`)."""
    libc = _libc()
    fixed = bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, RUN_MMAP_THRESHOLD) == 1)
    try:
        yield fixed
    finally:
        if fixed:
            libc.mallopt(M_MMAP_THRESHOLD, HOST_MMAP_THRESHOLD)
        return_freed_memory()


def return_freed_memory() -> None:
    """Give freed memory back: collect cycles, empty the CUDA cache, and ask glibc to return the free pages
    inside its arenas (``malloc_trim``)."""
    gc.collect()
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
