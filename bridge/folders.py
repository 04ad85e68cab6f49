"""Model folders through ComfyUI's ``folder_paths``: listing, safe resolution, our own folders, the user dir."""

from __future__ import annotations

import os
from pathlib import Path


def _folder_paths():
    import folder_paths

    return folder_paths


def list_files(folder: str) -> list[str]:
    """Relative names in a model folder (all configured paths, extra_model_paths.yaml included), sorted."""
    try:
        return list(_folder_paths().get_filename_list(folder))
    except KeyError:
        return []


def resolve(folder: str, name: str) -> Path:
    """Full path of ``name`` in ``folder``; ComfyUI normalises the name so it cannot leave the folder."""
    full = _folder_paths().get_full_path(folder, name)
    if full is None:
        raise FileNotFoundError(f"'{name}' is not in ComfyUI's '{folder}' folders "
                                f"({', '.join(folder_paths_of(folder)) or 'none configured'})")
    return Path(full)


def folder_paths_of(folder: str) -> list[str]:
    try:
        return list(_folder_paths().get_folder_paths(folder))
    except KeyError:
        return []


# Model folders the pack adds to ComfyUI (models/<name>), with the file types each lists.
PACK_MODEL_FOLDERS: dict[str, set[str]] = {
    "text_to_lora": {".json", ".safetensors"},  # text-to-LoRA configs, calibrations, proposers
    "prompt_refiner": {".json", ".safetensors", ".model"},  # Flan-T5 base folders + LoRA adapter folders beside them
}


def register_pack_folders() -> None:
    """Called at import inside ComfyUI: cheap, only updates folder_paths' table."""
    for name, extensions in PACK_MODEL_FOLDERS.items():
        register_folder(name, extensions)


def register_folder(name: str, extensions: set[str]) -> Path:
    """Register ``models/<name>`` (keeping paths a user set in extra_model_paths.yaml); return the default path."""
    fp = _folder_paths()
    default = os.path.join(fp.models_dir, name)
    if name in fp.folder_names_and_paths:
        paths, exts = fp.folder_names_and_paths[name]
        if default not in paths:
            paths.append(default)
        exts.update(extensions)
    else:
        fp.folder_names_and_paths[name] = ([default], set(extensions))
    return Path(default)


def user_dir() -> Path:
    """ComfyUI's user directory (``--user-directory``); the pack keeps its state under ``lora_lab/`` there."""
    return Path(_folder_paths().get_user_directory())


def output_dir() -> Path:
    return Path(_folder_paths().get_output_directory())


def default_lora_dir() -> Path:
    """Where new LoRAs are written: the first configured ``loras`` folder."""
    paths = folder_paths_of("loras")
    return Path(paths[0]) if paths else Path(_folder_paths().models_dir) / "loras"
