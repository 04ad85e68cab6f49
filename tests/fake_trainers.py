"""Fake ``accelerate`` + sd-scripts and ``mflux-train`` executables that behave like the real CLIs: they read
the files our engines write, print tqdm progress on stderr, write kohya/mflux-shaped outputs, and fail like
the real tools when asked (env FAKE_FAIL=1: a traceback and exit 1; FAKE_NO_OUTPUT=1: exit 0, no file)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

ACCELERATE = '''
import os, sys
args = sys.argv[1:]
assert args[0] == "launch", args
rest = args[1:]
while rest and not rest[0].endswith(".py"):
    rest = rest[1:] if rest[0] in ("--multi_gpu", "--cpu") else rest[2:]
os.execv(sys.executable, [sys.executable, *rest])
'''

KOHYA = '''
import argparse, json, os, sys, time, tomllib
from pathlib import Path
import torch
from safetensors.torch import save_file
p = argparse.ArgumentParser()
for flag in ("pretrained_model_name_or_path", "dataset_config", "output_dir", "output_name", "save_model_as",
             "network_module", "network_dim", "network_alpha", "learning_rate", "optimizer_type", "lr_scheduler",
             "lr_warmup_steps", "mixed_precision", "seed", "max_grad_norm", "gradient_accumulation_steps",
             "max_train_epochs", "max_train_steps", "save_every_n_steps", "resume", "sample_prompts",
             "sample_every_n_epochs", "sample_sampler", "noise_offset", "text_encoder_lr"):
    p.add_argument("--" + flag)
for flag in ("save_state", "save_state_on_train_end", "network_train_unet_only", "cache_latents",
             "gradient_checkpointing", "sample_at_first"):
    p.add_argument("--" + flag, action="store_true")
a = p.parse_args()
print("prepare tokenizer", flush=True)
if os.environ.get("FAKE_FAIL"):
    print("Traceback (most recent call last):", file=sys.stderr)
    print('  File "train_network.py", line 1200, in train', file=sys.stderr)
    print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", file=sys.stderr)
    sys.exit(1)
dataset = tomllib.loads(Path(a.dataset_config).read_text())["datasets"][0]
samples = sum(len(list(Path(s["image_dir"]).glob("*.png"))) * s["num_repeats"] for s in dataset["subsets"])
for s in dataset["subsets"]:
    for caption in Path(s["image_dir"]).glob("*.txt"):
        assert "[trigger]" not in caption.read_text()
per_epoch = -(-samples // dataset["batch_size"])
total = int(a.max_train_steps) if a.max_train_steps else per_epoch * int(a.max_train_epochs)
out = Path(a.output_dir); out.mkdir(parents=True, exist_ok=True)
start = 0
if a.resume:
    start = json.loads((Path(a.resume) / "train_state.json").read_text())["current_step"]
    print(f"resumed from {a.resume} at step {start}", flush=True)
for step in range(start + 1, total + 1):
    print(f"steps: {100 * step // total:3d}%|##  | {step}/{total} [00:0{step}<00:00, 2.00it/s, avr_loss={1.0 / step:.4f}]",
          end="\\r", file=sys.stderr, flush=True)
    state = out / f"{a.output_name}-step{step:08d}-state"
    state.mkdir(exist_ok=True)
    (state / "train_state.json").write_text(json.dumps({"current_step": step}))
print(file=sys.stderr)
if os.environ.get("FAKE_NO_OUTPUT"):
    sys.exit(0)
rank = int(a.network_dim)
stem = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
save_file({stem + ".lora_down.weight": torch.zeros(rank, 320), stem + ".lora_up.weight": torch.zeros(320, rank),
           stem + ".alpha": torch.tensor(float(a.network_alpha))}, str(out / f"{a.output_name}.safetensors"),
          metadata={"ss_network_dim": a.network_dim, "ss_sd_scripts_commit_hash": "fake", "ss_steps": str(total)})
'''

MFLUX = '''
import argparse, json, os, sys, zipfile
from pathlib import Path
import torch
from safetensors.torch import save
p = argparse.ArgumentParser(prog="mflux-train")
p.add_argument("--config"); p.add_argument("--resume")
a = p.parse_args()
if os.environ.get("FAKE_FAIL"):
    print("Traceback (most recent call last):\\nValueError: Flux1 training is no longer supported.", file=sys.stderr)
    sys.exit(1)
if a.resume:
    with zipfile.ZipFile(a.resume) as z:
        spec = json.loads(z.read("config.json")); start = json.loads(z.read("iterator.json"))["step"]
else:
    spec = json.loads(Path(a.config).read_text()); start = 0
images = sorted(Path(spec["data"]).glob("*.png"))
assert all("[trigger]" not in i.with_suffix(".txt").read_text() for i in images)
total = len(images) // spec["training_loop"]["batch_size"] * spec["training_loop"]["num_epochs"]
out = Path(spec["checkpoint"]["output_path"]) / "checkpoints"; out.mkdir(parents=True, exist_ok=True)
for step in range(start + 1, total + 1):
    print(f"{100 * step // total:3d}%|###| {step}/{total} [00:01<00:00, 1.00it/s]", end="\\r", file=sys.stderr, flush=True)
    if step % spec["checkpoint"]["save_frequency"] == 0 or step == total:
        adapter = f"{step:07d}_adapter.safetensors"
        rank = spec["lora_layers"]["targets"][0]["rank"]
        blob = save({"transformer.layers.0.attention.to_q.lora_A.weight": torch.zeros(rank, 64),
                     "transformer.layers.0.attention.to_q.lora_B.weight": torch.zeros(64, rank)})
        with zipfile.ZipFile(out / f"{step:07d}_checkpoint.zip", "w") as z:
            z.writestr(adapter, blob)
            z.writestr("config.json", json.dumps(spec))
            z.writestr("iterator.json", json.dumps({"step": step}))
            z.writestr("checkpoint.json", json.dumps({"files": {"lora_adapter": adapter}}))
print(file=sys.stderr)
'''


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_kohya(root: Path) -> tuple[Path, Path]:
    """(sd-scripts folder with train_network.py + sdxl_train_network.py, its venv/bin/accelerate)."""
    scripts = root / "sd-scripts"
    for name in ("train_network.py", "sdxl_train_network.py"):
        _script(scripts / name, KOHYA)
    return scripts, _script(scripts / "venv" / "bin" / "accelerate", ACCELERATE)


def fake_mflux(root: Path) -> Path:
    return _script(root / "bin" / "mflux-train", MFLUX)


def env_with(**values) -> dict:
    return dict(os.environ, **values)
