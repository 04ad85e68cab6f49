"""Adapter folders: PEFT's own layout (``adapter_config.json`` + ``adapter_model.safetensors``) plus ``training.json``.

Written as a whole folder (a temp folder renamed into place), so a crash never leaves half an adapter and an
existing adapter is never replaced unless asked. Read back with bounded reads and checked against the base it
is applied to: the same architecture, vocabulary and weights it was trained on, the exact LoRA keys and shapes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..lora_format import LoraFileError, load_tensors, save_tensors
from .base_model import LoadedBase, base_identity
from .errors import AdapterMismatchError, ModelUnavailableError
from .files import read_json, write_json_atomic

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
TRAINING_INFO = "training.json"
# PEFT options that change what the weights mean; the refiner only runs plain LoRA on linear layers.
UNSUPPORTED_OPTIONS = ("modules_to_save", "use_dora", "layers_to_transform", "rank_pattern", "alpha_pattern",
                       "target_parameters", "trainable_token_indices")
LORA_CONFIG_KEYS = ("r", "lora_alpha", "target_modules", "lora_dropout", "bias", "use_rslora")


@dataclass
class AdapterFiles:
    folder: Path
    config: dict
    tensors: dict
    training: dict | None


def write_adapter(folder: str | Path, tensors: dict, config: dict, training: dict, overwrite: bool = False) -> Path:
    """Write the three files into a temp folder beside ``folder`` and rename it into place."""
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise FileExistsError(f"adapter folder {folder} already exists; choose another name or allow overwriting")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save_tensors(staging / ADAPTER_WEIGHTS, tensors, {"format": "pt"})
        write_json_atomic(staging / ADAPTER_CONFIG, config)
        write_json_atomic(staging / TRAINING_INFO, training)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder


def read_adapter(folder: str | Path) -> AdapterFiles:
    """Bounded, validated read of an adapter folder; any problem is a ModelUnavailableError naming the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelUnavailableError(f"adapter folder {folder} does not exist")
    try:
        config = read_json(folder / ADAPTER_CONFIG, "adapter config")
        training = read_json(folder / TRAINING_INFO, "adapter training info") if (folder / TRAINING_INFO).exists() else None
    except (FileNotFoundError, ValueError) as exc:
        raise ModelUnavailableError(str(exc)) from None
    _check_config(folder, config)
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        pickled = " (adapter_model.bin is a pickle file and is never loaded)" if (folder / "adapter_model.bin").exists() else ""
        raise ModelUnavailableError(f"adapter folder {folder} has no {ADAPTER_WEIGHTS}{pickled}")
    try:
        tensors, _ = load_tensors(weights)
    except LoraFileError as exc:
        raise ModelUnavailableError(f"adapter weights are unreadable: {exc}") from None
    return AdapterFiles(folder, config, tensors, training)


def _check_config(folder: Path, config: dict) -> None:
    where = folder / ADAPTER_CONFIG
    if config.get("peft_type") != "LORA":
        raise ModelUnavailableError(f"{where}: peft_type is {config.get('peft_type')!r}, expected 'LORA'")
    rank, targets = config.get("r"), config.get("target_modules")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= 1024:
        raise ModelUnavailableError(f"{where}: r must be an integer between 1 and 1024, got {rank!r}")
    if not isinstance(config.get("lora_alpha"), (int, float)) or isinstance(config.get("lora_alpha"), bool):
        raise ModelUnavailableError(f"{where}: lora_alpha must be a number, got {config.get('lora_alpha')!r}")
    if not (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets)):
        raise ModelUnavailableError(f"{where}: target_modules must be a non-empty list of module names, got {targets!r}")
    used = [key for key in UNSUPPORTED_OPTIONS if config.get(key)]
    if used:
        raise ModelUnavailableError(f"{where}: uses {', '.join(used)}, which the refiner does not support "
                                    "(only plain LoRA on linear layers)")


def lora_config(config: dict):
    """The PEFT ``LoraConfig`` for a validated adapter config (only the keys that change the weights' meaning)."""
    from peft import LoraConfig

    kept = {key: config[key] for key in LORA_CONFIG_KEYS if key in config}
    return LoraConfig(task_type="SEQ_2_SEQ_LM", inference_mode=True, **kept)


def check_base_match(adapter: AdapterFiles, base: LoadedBase) -> None:
    """Refuse an adapter whose training.json names another base (architecture, vocabulary or weights)."""
    trained_on = (adapter.training or {}).get("base")
    if not trained_on:
        return  # an adapter made elsewhere: only the key/shape check in apply_adapter guards it
    here = base_identity(base)
    name = f"adapter '{adapter.folder.name}' was trained for base '{trained_on.get('name')}'"
    if trained_on.get("signature") != here["signature"]:
        diff = {k: (trained_on.get("signature", {}).get(k), v) for k, v in here["signature"].items()
                if trained_on.get("signature", {}).get(k) != v}
        raise AdapterMismatchError(f"{name}, not '{base.folder.name}': architecture differs "
                                   f"(trained-for vs this base: {diff})")
    if trained_on.get("vocab_sha256") != here["vocab_sha256"] or trained_on.get("fingerprint") != here["fingerprint"]:
        raise AdapterMismatchError(f"{name}, not '{base.folder.name}': same architecture but a different "
                                   "tokenizer or different weights")


def apply_adapter(base: LoadedBase, adapter: AdapterFiles):
    """Inject the adapter into ``base.model`` (exact keys and shapes), merge it, return the plain merged model."""
    import torch
    from peft import get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    check_base_match(adapter, base)
    try:
        wrapped = get_peft_model(base.model, lora_config(adapter.config))
    except ValueError as exc:  # PEFT: target modules not found in the base
        raise AdapterMismatchError(f"adapter '{adapter.folder.name}' does not fit base '{base.folder.name}': {exc}") from None
    expected = {key: tuple(value.shape) for key, value in get_peft_model_state_dict(wrapped).items()}
    found = {key: tuple(value.shape) for key, value in adapter.tensors.items()}
    if expected != found:
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
        raise AdapterMismatchError(
            f"adapter '{adapter.folder.name}' does not fit base '{base.folder.name}': {len(missing)} missing, "
            f"{len(extra)} unexpected and {len(wrong)} wrongly shaped tensors "
            f"(e.g. {(missing or extra or wrong)[0]})")
    with torch.no_grad():
        set_peft_model_state_dict(wrapped, adapter.tensors)
        return wrapped.merge_and_unload()
