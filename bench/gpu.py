"""The prepared GPU check: ``lora-lab bench gpu --json`` on one CUDA GPU, random-weight models from configs.

Reports side by side: our trainer's steps/s on an SD1.5-shaped model at 512 px in bf16 and in fp16 (with the
diffusers example ``train_text_to_image_lora.py`` under the same settings when ``--reference`` gives its
path, timed by the same step clock as ``bench trainer``), the peak GPU memory of a real run against the
memory preflight's estimate, the out-of-memory path (an impossible batch refused before anything loads),
the refiner's tokens/s at Flan-T5-base shape on the GPU, and Text to LoRA's proposal + 50 steps at CLIP-L
shapes on the GPU beside the same on the CPU (``bench/t2l_device.py``). ``--dry-run`` runs every part on the
CPU with tiny shapes, fp32 and few steps, so CI proves the script works before a GPU is spent on it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

GOALS = {"steps_per_s_ratio_bf16": (">=", 1.25), "memory_estimate_error": ("<=", 0.25),
         "t2l_seconds": ("<=", 0.5)}
REAL = dict(resolution=512, batch=1, rank=16, steps=40, images=8, new_tokens=128, precisions=("bf16", "fp16"))
DRY = dict(resolution=64, batch=2, rank=4, steps=14, images=4, new_tokens=8, precisions=("fp32",))


def add_arguments(parser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU (what CI runs)")
    parser.add_argument("--reference", help="diffusers' examples/text_to_image/train_text_to_image_lora.py, for "
                                            "the same-settings comparison (skipped, and said so, without it)")
    parser.add_argument("--workdir", help="keep the files here (default: a temporary folder)")


def write_model(folder: Path, dry_run: bool) -> Path:
    """SD1.5-shaped diffusers folder from the shipped configs (random weights), or the tiny one for a dry run."""
    from ..engines.training.tiny import write_tiny_model

    if dry_run:
        return write_tiny_model(folder, "sd15")
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from ..engines.tokenizers import clip_tokenizer
    from ..engines.training.models import CONFIG_DIR

    def config(name: str) -> dict:
        return json.loads((CONFIG_DIR / "sd15" / f"{name}.json").read_text(encoding="utf-8"))

    torch.manual_seed(0)
    UNet2DConditionModel.from_config(config("unet")).save_pretrained(folder / "unet")
    AutoencoderKL.from_config(config("vae")).save_pretrained(folder / "vae")
    text = {k: v for k, v in config("text_encoder").items() if k != "architectures"}
    CLIPTextModel(CLIPTextConfig(**text)).save_pretrained(folder / "text_encoder")
    DDPMScheduler.from_config(config("scheduler")).save_pretrained(folder / "scheduler")
    clip_tokenizer().save_pretrained(folder / "tokenizer")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}), encoding="utf-8")
    return folder


def _ours(shape: dict, model: Path, data: Path, workdir: Path, precision: str, device: str) -> list[str]:
    return ["-m", f"{__package__.rsplit('.', 1)[0]}.cli", "train", "run", str(data), "--name", f"gpu_{precision}",
            "--model", str(model), "--out", str(workdir / "loras"), "--runs", str(workdir / "runs"),
            "--max-steps", str(shape["steps"]), "--batch-size", str(shape["batch"]), "--resolution",
            str(shape["resolution"]), "--rank", str(shape["rank"]), "--seed", "0", "--sample-steps", "0",
            "--save-every", "0", "--overwrite", "--device", device, "--precision", precision, "--trigger", "lorasks"]


def _reference(args, shape: dict, model: Path, data: Path, workdir: Path, precision: str) -> list[str]:
    from .trainer import _reference_command

    command = _reference_command(args, model, data, workdir / f"reference_{precision}")
    values = {"--resolution": shape["resolution"], "--train_batch_size": shape["batch"], "--rank": shape["rank"],
              "--max_train_steps": shape["steps"], "--mixed_precision": "no" if precision == "fp32" else precision}
    for flag, value in values.items():
        command[command.index(flag) + 1] = str(value)
    return command


def trainer_speed(args, shape: dict, model: Path, workdir: Path, device: str) -> dict:
    from ..engines.training.tiny import make_dataset
    from .trainer import TORCHVISION_SHIM, REFERENCE_LAUNCHER, _clocked

    ours_data = make_dataset(workdir / "data", count=shape["images"], size=shape["resolution"], trigger="lorasks")
    ref_data = make_dataset(workdir / "data_ref", count=shape["images"], size=shape["resolution"], trigger="lorasks",
                            metadata_jsonl=True, captions=False)
    (workdir / "shim").mkdir(exist_ok=True)
    (workdir / "shim" / "_lab_torchvision_transforms.py").write_text(TORCHVISION_SHIM)
    (workdir / "shim" / "run_reference.py").write_text(REFERENCE_LAUNCHER)
    figures = {}
    for precision in shape["precisions"]:
        ours = _clocked(workdir, f"ours_{precision}", _ours(shape, model, ours_data, workdir, precision, device), 8)
        figures[f"steps_per_s_ours_{precision}"] = round(ours["steps_per_s"], 3)
        if not args.reference:
            figures["reference"] = "skipped: pass --reference (the diffusers example script) to compare"
            continue
        reference = _clocked(workdir, f"reference_{precision}", _reference(args, shape, model, ref_data, workdir,
                                                                          precision), 8)
        figures[f"steps_per_s_reference_{precision}"] = round(reference["steps_per_s"], 3)
        figures[f"steps_per_s_ratio_{precision}"] = round(ours["steps_per_s"] / reference["steps_per_s"], 3)
    return figures


def memory_vs_estimate(shape: dict, model: Path, workdir: Path, device: str, precision: str) -> dict:
    """A real run's peak (GPU: max allocated; CPU: the live-tensor peak) against the preflight's estimate."""
    import torch

    from ..engines.training.memory import LiveBytes
    from ..engines.training.usecase import TrainRequest, build_job, memory_preflight
    from ..engines.training.trainer import Trainer

    settings = dict(rank=shape["rank"], resolution=shape["resolution"], batch_size=shape["batch"], max_steps=3,
                    sample_steps=0, save_every=0, trigger_word="lorasks", device=device, precision=precision)
    job = build_job(TrainRequest(workdir / "data", model, "gpu_memory", workdir / "loras", workdir / "runs", settings,
                                 overwrite=True))
    estimate = memory_preflight(job)
    tracker = LiveBytes()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        Trainer(job, log=lambda message: None).run()
        measured = torch.cuda.max_memory_allocated()
    else:
        with tracker:
            Trainer(job, log=lambda message: None).run()
        measured = tracker.peak
    return {"memory_estimate_mb": round(estimate.peak / 2**20, 1), "memory_measured_mb": round(measured / 2**20, 1),
            "memory_estimate_error": round(abs(estimate.peak / measured - 1), 3), "memory_estimate": estimate.text()}


def oom_refused(shape: dict, model: Path, workdir: Path, device: str, precision: str) -> dict:
    """An impossible batch is refused by the preflight, before any weight is loaded."""
    import torch

    from ..engines.training.memory import MemoryPreflightError
    from ..engines.training.usecase import TrainRequest, build_job, memory_preflight

    settings = dict(rank=shape["rank"], resolution=2048, batch_size=64, max_steps=1,
                    sample_steps=0, trigger_word="lorasks", device=device, precision=precision)
    job = build_job(TrainRequest(workdir / "data", model, "gpu_oom", workdir / "loras", workdir / "runs", settings))
    before = _in_use(device)
    started = time.perf_counter()
    try:
        memory_preflight(job)
    except MemoryPreflightError as exc:
        grew = _in_use(device) - before
        return {"oom_refused": True, "oom_refusal_s": round(time.perf_counter() - started, 2),
                "oom_grew_mb": round(grew / 2**20, 1), "oom_loaded_nothing": grew < 64 * 2**20,
                "oom_message": str(exc)[:400]}
    return {"oom_refused": False}


def _in_use(device: str) -> int:
    """Bytes of tensors on the GPU, or this process's resident set on the CPU (a loaded model shows in either)."""
    import torch

    from ..engines.training.memory import resident_bytes

    return torch.cuda.memory_allocated() if device == "cuda" else resident_bytes() or 0


def refiner_tokens_per_s(shape: dict, device: str, precision: str) -> dict:
    """Greedy decoding of a Flan-T5-base-shaped random model (tiny in a dry run) in the refiner's format."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from ..engines.prompt_refiner.precision import convert

    size = dict(d_model=64, d_ff=128, num_layers=2, num_heads=4, d_kv=16) if device == "cpu" else dict(
        d_model=768, d_ff=2048, num_layers=12, num_heads=12, d_kv=64)
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=32128, feed_forward_proj="gated-gelu", decoder_start_token_id=0,
                                                pad_token_id=0, eos_token_id=1, **size)).eval()
    model = convert(model, precision).to(device)
    source = torch.randint(5, 32000, (1, 48), device=device)
    new = shape["new_tokens"]
    with torch.no_grad():
        model.generate(source, max_new_tokens=4, min_new_tokens=4)  # warm-up (kernels, caches)
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        model.generate(source, max_new_tokens=new, min_new_tokens=new, do_sample=False)
        if device == "cuda":
            torch.cuda.synchronize()
    return {"refiner_tokens_per_s": round(new / (time.perf_counter() - started), 1), "refiner_precision": precision}


def run(args) -> dict:
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        raise ValueError("bench gpu needs a CUDA GPU (torch.cuda.is_available() is False); use --dry-run on the CPU")
    shape, device = (DRY, "cpu") if args.dry_run else (REAL, "cuda")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as temp:
        workdir = Path(args.workdir or temp).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        model = write_model(workdir / "model", args.dry_run)
        result = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu (dry run)",
                  "torch": torch.__version__, **trainer_speed(args, shape, model, workdir, device)}
        precision = shape["precisions"][0]
        result.update(memory_vs_estimate(shape, model, workdir, device, precision))
        result.update(oom_refused(shape, model, workdir, device, precision))
        result.update(refiner_tokens_per_s(shape, device, precision if device == "cuda" else "fp32"))
        result.update(text_to_lora_seconds(device, args.dry_run))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    return result


def text_to_lora_seconds(device: str, dry_run: bool) -> dict:
    """Text to LoRA's proposal + 50 steps on ``device`` and on the CPU (the dry run: the tiny CLIP, 4 steps)."""
    from .t2l_device import t2l_device_figures

    figures = t2l_device_figures(device, steps=4 if dry_run else 50, tiny=dry_run)
    return {f"t2l_{key}": value for key, value in figures.items()}
