"""Save images exactly as ComfyUI's Save Image node does (file naming, counter, PNG workflow metadata)."""

from __future__ import annotations


def save_images(images, filename_prefix: str, prompt=None, extra_pnginfo=None) -> list[dict]:
    """Save an IMAGE batch to ComfyUI's output folder; ``[{"filename", "subfolder", "type"}]`` per image."""
    import nodes

    result = nodes.SaveImage().save_images(images, filename_prefix=filename_prefix, prompt=prompt,
                                           extra_pnginfo=extra_pnginfo)
    return list(result["ui"]["images"])
