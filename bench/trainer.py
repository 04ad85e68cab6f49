"""LoRA training vs diffusers' ``train_text_to_image_lora.py`` at an identical tiny configuration, plus
2-process data parallelism vs 1 process with twice the batch.

Both trainers get the same randomly initialised tiny SD1.5-structured model saved in diffusers format,
the same 16 generated 64x64 images and captions (``.txt`` for us, ``metadata.jsonl`` for the reference),
rank 4 on to_q/k/v/out.0, batch 2, 60 steps, AdamW 1e-4, 2 torch threads, fp32, in fresh processes run
by ``bench/step_clock.py`` (optimizer-step timestamps + MSE values, the same instrument for both).
Figures: steps/s over steps 11..60, peak RSS (``wait4``), time from process start to the end of step 1,
and the final loss of each trained LoRA on one fixed evaluation set (same latents, noise, timesteps).
Both processes run with ``OMP_WAIT_POLICY=PASSIVE`` (unless set): on a shared 2-core machine, OpenMP's
default spin-waiting makes 2-thread steps 5-10x slower whenever another process takes a core, which
buries the difference being measured under noise.

The reference script is not part of this project: pass its path (``--reference``). It needs ``datasets``;
it imports ``torchvision`` only for ``transforms``, and PyPI's torchvision cannot be installed beside the
CPU torch this project pins, so a PIL/torch implementation of the transforms it uses (Resize, CenterCrop,
RandomCrop, RandomHorizontalFlip, Lambda, ToTensor, Normalize, Compose) is put on its path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Issue 9, against diffusers' script in the same run: steps/s >= 1.25x, peak RSS <= 0.85x, first step <= 0.5x,
# final loss within 5%; 2-process DDP weights equal to 1 process with twice the batch within 1e-6.
GOALS = {"steps_per_s_ratio": (">=", 1.25), "peak_rss_ratio": ("<=", 0.85), "first_step_ratio": ("<=", 0.5),
         "final_loss_rel_diff": ("<=", 0.05), "ddp_max_abs_diff": ("<=", 1e-6)}

TORCHVISION_SHIM = '''
"""Stand-in for torchvision.transforms (PIL/torch), written by the LoRA Lab benchmark; same semantics."""
import enum, torch
from PIL import Image
class InterpolationMode(enum.Enum):
    NEAREST = Image.Resampling.NEAREST; BILINEAR = Image.Resampling.BILINEAR; BICUBIC = Image.Resampling.BICUBIC
    BOX = Image.Resampling.BOX; HAMMING = Image.Resampling.HAMMING; LANCZOS = Image.Resampling.LANCZOS
    NEAREST_EXACT = Image.Resampling.NEAREST
class Compose:
    def __init__(self, transforms): self.transforms = transforms
    def __call__(self, x):
        for t in self.transforms: x = t(x)
        return x
class Resize:
    def __init__(self, size, interpolation=InterpolationMode.BILINEAR): self.size, self.mode = size, interpolation
    def __call__(self, img):
        w, h = img.size; short, long = (w, h) if w <= h else (h, w)
        if short == self.size: return img
        new_long = int(self.size * long / short)
        size = (self.size, new_long) if w <= h else (new_long, self.size)
        return img.resize(size, self.mode.value)
class CenterCrop:
    def __init__(self, size): self.size = size
    def __call__(self, img):
        w, h = img.size; top, left = int(round((h - self.size) / 2.0)), int(round((w - self.size) / 2.0))
        return img.crop((left, top, left + self.size, top + self.size))
class RandomCrop(CenterCrop):
    def __call__(self, img):
        w, h = img.size
        top = int(torch.randint(0, h - self.size + 1, (1,))); left = int(torch.randint(0, w - self.size + 1, (1,)))
        return img.crop((left, top, left + self.size, top + self.size))
class RandomHorizontalFlip:
    def __init__(self, p=0.5): self.p = p
    def __call__(self, img):
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if torch.rand(1) < self.p else img
class Lambda:
    def __init__(self, fn): self.fn = fn
    def __call__(self, x): return self.fn(x)
class ToTensor:
    def __call__(self, img):
        import numpy as np
        return torch.from_numpy(np.array(img, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()
class Normalize:
    def __init__(self, mean, std): self.mean, self.std = torch.tensor(mean), torch.tensor(std)
    def __call__(self, t): return (t - self.mean[:, None, None]) / self.std[:, None, None]
'''


REFERENCE_LAUNCHER = '''
"""Run the reference script with the transforms stand-in registered as torchvision.transforms.

The libraries the script imports before torchvision are imported first, so none of them mistakes the
stand-in for a full torchvision; then ``torchvision`` resolves to it for the script's own import.
"""
import runpy, sys, types
import datasets, diffusers, peft, transformers  # noqa: F401 - imported by the script before torchvision
import _lab_torchvision_transforms as transforms
package = types.ModuleType("torchvision")
package.transforms = transforms
sys.modules["torchvision"], sys.modules["torchvision.transforms"] = package, transforms
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
'''


GOALS = {"memory_configs_within_25pct": (">=", 3)}


def add_arguments(parser) -> None:
    parser.add_argument("--reference", help="path of diffusers' examples/text_to_image/train_text_to_image_lora.py "
                                            "(needed unless --memory)")
    parser.add_argument("--memory", action="store_true", help="only compare the memory preflight's estimate with "
                                                              "the measured peak of real CPU runs (bench/trainer_estimate)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ddp-steps", type=int, default=20, help="steps of the 2-process equality check")
    parser.add_argument("--repeats", type=int, default=1, help="alternate reference/ours this many times; "
                                                                "report medians (the machine is shared and noisy)")
    parser.add_argument("--workdir", help="keep the files here (default: a temporary folder)")


def _clocked(workdir: Path, name: str, command: list[str], threads: int) -> dict:
    """Run ``command`` under the step clock in a fresh process; wall-clock start, step times, peak RSS."""
    record = workdir / f"{name}.clock.json"
    env = dict(os.environ, LORA_LAB_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(workdir / "hf_home"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(workdir / "shim"), os.environ.get("PYTHONPATH", "")])))
    started = time.time()
    log = open(workdir / f"{name}.log", "w")
    process = subprocess.Popen([sys.executable, "-m", f"{__package__}.step_clock", str(record), *command],
                               stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    if process.returncode != 0:
        tail = (workdir / f"{name}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")
    clock = json.loads(record.read_text())
    steps = clock["steps"]
    timed = steps[10:]
    return {"first_step_s": steps[0] - started, "steps_per_s": (len(timed) - 1) / (timed[-1] - timed[0]),
            "peak_rss_mb": usage.ru_maxrss / 1024, "steps": len(steps), "losses": clock["losses"],
            "wall_s": time.time() - started}


def _medians(runs: list[dict]) -> dict:
    """Per figure, the median over repeated runs (losses from the last run: they are identical per seed)."""
    import statistics

    keys = ("first_step_s", "steps_per_s", "peak_rss_mb", "wall_s")
    return {key: statistics.median(run[key] for run in runs) for key in keys} | {"losses": runs[-1]["losses"]}


def _prepare(workdir: Path) -> tuple[Path, Path, Path]:
    from ..engines.training.tiny import make_dataset, write_tiny_model

    model = write_tiny_model(workdir / "model", "sd15", seed=0)
    ours = make_dataset(workdir / "data_ours", count=16, size=64, trigger="lorasks", seed=0)
    reference = make_dataset(workdir / "data_reference", count=16, size=64, trigger="lorasks", seed=0,
                             metadata_jsonl=True, captions=False)
    (workdir / "shim").mkdir(parents=True, exist_ok=True)
    (workdir / "shim" / "_lab_torchvision_transforms.py").write_text(TORCHVISION_SHIM)
    (workdir / "shim" / "run_reference.py").write_text(REFERENCE_LAUNCHER)
    return model, ours, reference


def _reference_command(args, model: Path, data: Path, out: Path) -> list[str]:
    return [str(out.parent / "shim" / "run_reference.py"), str(Path(args.reference).resolve()),
            "--pretrained_model_name_or_path", str(model),
            "--train_data_dir", str(data), "--resolution", "64", "--center_crop", "--train_batch_size", "2",
            "--max_train_steps", str(args.steps), "--learning_rate", "1e-4", "--lr_scheduler", "constant",
            "--lr_warmup_steps", "0", "--rank", "4", "--seed", "0", "--output_dir", str(out),
            "--dataloader_num_workers", "0", "--checkpointing_steps", str(10 * args.steps),
            "--image_interpolation_mode", "bicubic", "--mixed_precision", "no"]


def _our_command(args, model: Path, data: Path, workdir: Path, name: str, processes: int = 1,
                 batch: int = 2, steps: int | None = None) -> list[str]:
    return ["-m", f"{__package__.rsplit('.', 1)[0]}.cli", "train", "run", str(data), "--name", name,
            "--model", str(model), "--out", str(workdir / "loras"), "--runs", str(workdir / "runs"),
            "--max-steps", str(steps or args.steps), "--batch-size", str(batch), "--resolution", "64", "--rank", "4",
            "--learning-rate", "1e-4", "--seed", "0", "--sample-steps", "0", "--save-every", "0",
            "--processes", str(processes), "--overwrite"]


def evaluation_loss(model: Path, lora: Path, data: Path, draws: int = 4) -> float:
    """Mean diffusion loss of ``lora`` on a fixed set: every image, ``draws`` fixed (noise, timestep) pairs."""
    import torch
    from diffusers.loaders.lora_pipeline import StableDiffusionLoraLoaderMixin as Loader

    from ..engines.training import encode
    from ..engines.training.models import open_model

    source = open_model(model)
    unet, vae = source.load_unet(torch.float32), source.load_vae(torch.float32)
    text = source.load_text_encoders(torch.float32)[0]
    state, alphas = Loader.lora_state_dict(str(lora.parent), weight_name=lora.name)  # a file path needs the hub
    Loader.load_lora_into_unet(state, alphas, unet=unet, adapter_name="bench")
    scheduler = source.noise_scheduler()
    images = sorted(data.glob("*.png"))
    captions = [json.loads(line)["text"] for line in (data / "metadata.jsonl").read_text().splitlines()]
    generator = torch.Generator().manual_seed(1234)
    total = 0.0
    with torch.no_grad():
        latents = vae.encode(torch.stack([encode.load_image(p, (64, 64)) for p in images])).latent_dist.mean
        latents = latents * vae.config.scaling_factor
        hidden = text(encode.tokenize(source.tokenizers(), "sd15", captions)[0])[0]
        for _ in range(draws):
            noise = torch.randn(latents.shape, generator=generator)
            steps = torch.randint(0, scheduler.config.num_train_timesteps, (len(images),), generator=generator)
            prediction = unet(scheduler.add_noise(latents, noise, steps), steps, hidden).sample
            total += torch.nn.functional.mse_loss(prediction, noise).item()
    return total / draws


def _ddp_difference(args, model: Path, data: Path, workdir: Path) -> tuple[float, dict]:
    from ..engines.lora_format import load_tensors

    for name, processes, batch in (("ddp1", 1, 2), ("ddp2", 2, 1)):
        command = [sys.executable, *_our_command(args, model, data, workdir, name, processes, batch, args.ddp_steps)]
        env = dict(os.environ, LORA_LAB_THREADS="1", OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
        subprocess.run(command + ["--threads", "1"], check=True, capture_output=True, env=env, cwd=workdir)
    one, two = (load_tensors(workdir / "loras" / f"{name}.safetensors")[0] for name in ("ddp1", "ddp2"))
    summary = json.loads((workdir / "runs" / "ddp2" / "result.json").read_text())["summary"]
    return max(float((one[k] - two[k]).abs().max()) for k in one), summary


def run(args) -> dict:
    import importlib.util

    if args.memory:
        from .trainer_estimate import compare

        with tempfile.TemporaryDirectory() as temp:
            return compare(Path(args.workdir or temp)) | {"load_average_1m": round(os.getloadavg()[0], 2)}
    if not args.reference:
        raise ValueError("--reference is required (the diffusers example script), unless --memory")
    if importlib.util.find_spec("datasets") is None:
        raise ValueError("the reference script needs the 'datasets' package: pip install datasets")
    if not Path(args.reference).is_file():
        raise FileNotFoundError(f"reference script {args.reference} not found")
    with tempfile.TemporaryDirectory() as temp:
        workdir = Path(args.workdir or temp).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        model, ours_data, reference_data = _prepare(workdir)
        runs = {"reference": [], "ours": []}
        for _ in range(args.repeats):
            runs["reference"].append(_clocked(workdir, "reference", _reference_command(
                args, model, reference_data, workdir / "reference_out"), args.threads))
            runs["ours"].append(_clocked(workdir, "ours", [*_our_command(args, model, ours_data, workdir, "bench"),
                                                           "--trigger", "lorasks"], args.threads))
        reference, ours = _medians(runs["reference"]), _medians(runs["ours"])
        reference_loss = evaluation_loss(model, workdir / "reference_out" / "pytorch_lora_weights.safetensors",
                                         reference_data)
        our_loss = evaluation_loss(model, workdir / "loras" / "bench.safetensors", reference_data)
        ddp_diff, ddp_summary = _ddp_difference(args, model, ours_data, workdir)
    tail = 20
    return {
        "steps": args.steps, "threads": args.threads, "repeats": args.repeats,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "steps_per_s_ours": round(ours["steps_per_s"], 2), "steps_per_s_reference": round(reference["steps_per_s"], 2),
        "steps_per_s_ratio": round(ours["steps_per_s"] / reference["steps_per_s"], 3),
        "peak_rss_mb_ours": round(ours["peak_rss_mb"]), "peak_rss_mb_reference": round(reference["peak_rss_mb"]),
        "peak_rss_ratio": round(ours["peak_rss_mb"] / reference["peak_rss_mb"], 3),
        "first_step_s_ours": round(ours["first_step_s"], 2), "first_step_s_reference": round(reference["first_step_s"], 2),
        "first_step_ratio": round(ours["first_step_s"] / reference["first_step_s"], 3),
        "final_loss_ours": round(our_loss, 6), "final_loss_reference": round(reference_loss, 6),
        "final_loss_rel_diff": round(abs(our_loss - reference_loss) / reference_loss, 5),
        "train_loss_last20_ours": round(sum(ours["losses"][-tail:]) / tail, 5),
        "train_loss_last20_reference": round(sum(reference["losses"][-tail:]) / tail, 5),
        "wall_s_ours": round(ours["wall_s"], 1), "wall_s_reference": round(reference["wall_s"], 1),
        "ddp_max_abs_diff": ddp_diff, "ddp_steps": args.ddp_steps,
        "ddp_summary": f"{ddp_summary['processes']} processes x batch {ddp_summary['per_device_batch']} = "
                       f"{ddp_summary['effective_batch']}, {ddp_summary['steps_per_epoch']} steps/epoch",
    }
