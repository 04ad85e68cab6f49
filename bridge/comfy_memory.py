"""ComfyUI's models out of the way before training, and what a run frees after it.

Training next to a loaded checkpoint doubles the weights in memory (ComfyUI's copy and the trainer's), so
before a run the node asks ``comfy.model_management`` to unload every model it holds and empty its cache;
the figure returned is how much that freed on ComfyUI's device. ComfyUI loads them again on the next
prompt that needs them. On the CPU, freed memory stays in glibc's arenas unless it is returned
(:mod:`..engines.common.process_memory`), so the unload ends by returning it.
"""

from __future__ import annotations


def torch_device() -> str:
    """The device ComfyUI runs its models on (``cuda:0``, ``cpu``, ``mps``)."""
    import comfy.model_management as mm

    return str(mm.get_torch_device())


def unload_comfy_models() -> int:
    """Unload every model ComfyUI holds and empty its cache; bytes this freed on ComfyUI's device."""
    import comfy.model_management as mm

    from ..engines.common.process_memory import return_freed_memory

    device = mm.get_torch_device()
    before = mm.get_free_memory(device)
    mm.unload_all_models()
    mm.soft_empty_cache()
    return_freed_memory()  # what ComfyUI freed (also on an earlier POST /free) goes back to the system
    return max(0, int(mm.get_free_memory(device) - before))
