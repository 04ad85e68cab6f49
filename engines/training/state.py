"""Resumable training state: LoRA weights, optimizer, LR scheduler, RNG and data position, without pickle.

A state is a folder ``state/step-000120/`` holding ``tensors.safetensors`` (LoRA parameters, optimizer
moments, RNG) and ``state.json`` (step, data position, optimizer hyper-parameters, scheduler counters,
the settings that must not change on resume). It is written into a temporary folder and renamed into
place, so a kill -9 at any moment leaves either the complete previous states or the new one too.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

STATE_DIR = "state"
STATE_JSON = "state.json"
TENSORS = "tensors.safetensors"
# Settings that may change between a run and its resume (they do not change what a step computes).
RESUMABLE_CHANGES = frozenset({"epochs", "max_steps", "save_every", "keep_states", "sample_prompts", "sample_steps",
                               "sample_every", "sample_resolution", "caption_template", "device"})


class ResumeError(ValueError):
    """A saved state that cannot be continued with the current settings."""


def _optimizer_parts(optimizer) -> tuple[dict, dict]:
    import torch

    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_state(run_dir: Path, step: int, params: dict, optimizer, lr_scheduler, meta: dict, keep: int) -> Path:
    """Write the state after ``step`` optimizer steps; keep the newest ``keep`` states."""
    import torch
    from safetensors.torch import save_file

    root = Path(run_dir) / STATE_DIR
    final = root / f"step-{step:07d}"
    temp = root / f".tmp-step-{step:07d}-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    optimizer_tensors, optimizer_json = _optimizer_parts(optimizer)
    tensors = {f"param.{name}": value.detach().cpu().contiguous() for name, value in params.items()}
    tensors.update({key: value.detach().cpu().contiguous() for key, value in optimizer_tensors.items()})
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    save_file(tensors, str(temp / TENSORS))
    document = dict(meta, step=step, optimizer=optimizer_json, lr_scheduler=lr_scheduler.state_dict())
    (temp / STATE_JSON).write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    _fsync_tree(temp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(temp, final)
    _prune(root, keep)
    return final


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def _prune(root: Path, keep: int) -> None:
    for old in sorted(root.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-step-*"):
        shutil.rmtree(stale, ignore_errors=True)


def latest_state(run_dir: Path) -> Path | None:
    """The newest complete state folder (one with its state.json), or None."""
    root = Path(run_dir) / STATE_DIR
    complete = [path for path in sorted(root.glob("step-*")) if (path / STATE_JSON).is_file()
                and (path / TENSORS).is_file()]
    return complete[-1] if complete else None


def read_meta(state: Path) -> dict:
    return json.loads((state / STATE_JSON).read_text(encoding="utf-8"))


def check_compatible(meta: dict, config: dict, model_fingerprint: str, dataset_digest: str) -> None:
    """Refuse to continue a state whose step would compute differently now; name the first difference."""
    saved = meta.get("config", {})
    for key in sorted(set(saved) | set(config)):
        if key not in RESUMABLE_CHANGES and saved.get(key) != config.get(key):
            raise ResumeError(f"resume: '{key}' was {saved.get(key)!r} in the saved state, now {config.get(key)!r}; "
                              "use the same setting, or turn resume off to start a new run")
    if meta.get("model") != model_fingerprint:
        raise ResumeError(f"resume: the base model changed since the state was saved ({meta.get('model')})")
    if meta.get("dataset") != dataset_digest:
        raise ResumeError("resume: the dataset (images, captions or repeats) changed since the state was saved")


def load_state(state: Path, params: dict, optimizer, lr_scheduler) -> dict:
    """Restore parameters (in place), optimizer, scheduler and RNG; return the saved meta."""
    import torch
    from safetensors.torch import load_file

    meta = read_meta(state)
    tensors = load_file(str(state / TENSORS))
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(tensors[f"param.{name}"].to(param.device, param.dtype))
    optimizer.load_state_dict(_optimizer_state(tensors, meta["optimizer"]))
    lr_scheduler.load_state_dict(meta["lr_scheduler"])
    torch.set_rng_state(tensors["rng.cpu"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return meta


def _optimizer_state(tensors: dict, saved: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in saved["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    groups = [dict(group, betas=tuple(group["betas"])) if "betas" in group else group
              for group in saved["param_groups"]]
    return {"state": state, "param_groups": groups}
