"""What the LoRA trainer node needs from ComfyUI: where checkpoints, datasets and outputs live, loading the
trained-on checkpoint as MODEL/CLIP (the LoRA index hears of a new file through ``lora_index``).
"""

from __future__ import annotations

from pathlib import Path

from . import folders


def checkpoint_path(name: str) -> Path:
    return folders.resolve("checkpoints", name)


def dataset_path(text: str) -> Path:
    """An absolute dataset folder, or one relative to ComfyUI's input directory."""
    import folder_paths

    path = Path(text.strip()).expanduser()
    return path if path.is_absolute() else Path(folder_paths.get_input_directory()) / path


def lora_output_dir() -> Path:
    return folders.default_lora_dir()


def lora_list_name(path: Path) -> str:
    """The name LoraLoader lists for ``path`` (relative to the loras folder that holds it)."""
    for root in folders.folder_paths_of("loras"):
        try:
            return str(Path(path).resolve().relative_to(Path(root).resolve()))
        except ValueError:
            continue
    return Path(path).name


def run_root() -> Path:
    """Work files of training runs (state, loss log, samples): ``<output>/lora_lab/training``."""
    return folders.output_dir() / "lora_lab" / "training"


def load_checkpoint(name: str):
    """(MODEL, CLIP) of a checkpoint, loaded like CheckpointLoaderSimple does."""
    import comfy.sd
    import folder_paths

    loaded = comfy.sd.load_checkpoint_guess_config(
        str(checkpoint_path(name)), output_vae=False, output_clip=True,
        embedding_directory=folder_paths.get_folder_paths("embeddings"))
    return loaded[0], loaded[1]


def train_in_comfyui(request, progress, ckpt_name: str, model=None, clip=None) -> tuple:
    """The LoRA Trainer node's run: unload ComfyUI's models, train (``usecase.train_lora`` on ComfyUI's
    device), register the new LoRA, apply it to MODEL/CLIP; returns (listed name, loss plot IMAGE,
    samples IMAGE, MODEL, CLIP, report text)."""
    import logging

    import torch

    from ..engines.common.process_memory import large_blocks_returned
    from ..engines.lora_format import load_tensors
    from ..engines.training.memory import size_text
    from ..engines.training.usecase import train_lora
    from . import comfy_memory, lora_apply, lora_index

    unloaded = comfy_memory.unload_comfy_models()
    request.host_device = comfy_memory.torch_device()
    with large_blocks_returned(), torch.inference_mode(False), torch.enable_grad():
        result = train_lora(request, progress, log=logging.getLogger("lora_lab.trainer").info)
        lora_index.register_new_lora(result.lora_path)
        if model is None or clip is None:
            loaded_model, loaded_clip = load_checkpoint(ckpt_name)
            model, clip = model or loaded_model, clip or loaded_clip
        model, clip, applied = lora_apply.apply_lora(model, clip, load_tensors(result.lora_path)[0], 1.0, 1.0)
    listed = lora_list_name(result.lora_path)
    loss = f", final loss {result.final_loss:.4f}" if result.final_loss is not None else ""
    text = [f"saved {listed}: {result.steps} steps{loss}",
            f"resumed from step {result.resumed_from}" if result.resumed_from is not None else "",
            result.summary.text() if result.summary else "",
            f"memory: unloaded ComfyUI's models first ({size_text(unloaded)} freed on {request.host_device}); "
            f"the trainer's models freed {size_text(result.freed_bytes or 0)} after the run",
            f"applied to {ckpt_name}: {applied.matched_keys} keys matched, {len(applied.unmatched_keys)} unmatched",
            f"run files: {result.run_dir}"]
    plot = image_batch([result.loss_plot] if result.loss_plot else [], "no loss plot")
    samples = image_batch(result.samples, f"no samples ({result.engine})")
    return listed, plot, samples, model, clip, "\n".join(line for line in text if line)


def image_batch(paths, placeholder: str):
    """IMAGE batch [N, H, W, 3] from PNG files (resized to the first), or a small placeholder card."""
    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    images = []
    for path in paths:
        with Image.open(path) as handle:
            images.append(handle.convert("RGB"))
    if not images:
        card = Image.new("RGB", (256, 64), (40, 40, 40))
        ImageDraw.Draw(card).text((8, 24), placeholder, fill="white")
        images = [card]
    size = images[0].size
    arrays = [np.asarray(image.resize(size), dtype=np.float32) / 255.0 for image in images]
    return torch.from_numpy(np.stack(arrays))
