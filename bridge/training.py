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
