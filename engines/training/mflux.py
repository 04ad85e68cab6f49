"""The mflux engine: drive ``mflux-train`` (MLX, Apple Silicon) in a subprocess.

We write mflux's ``train.json`` (data folder with staged captions, epochs, batch, optimizer, checkpoint
cadence, LoRA targets), stream its tqdm progress, resume from its newest ``*_checkpoint.zip``
(``mflux-train --resume``), and take the LoRA adapter out of the final checkpoint zip. mflux trains its
own model names (``model`` in train.json, e.g. ``z-image-turbo``): the job's model is passed through.
Its adapter keeps mflux's key names; we add ``modelspec.*``/``ss_*``/``lora_lab.*`` metadata.

Where mflux is: ``LORA_LAB_MFLUX_TRAIN`` (the ``mflux-train`` executable) or ``mflux-train`` on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from ..progress import Progress, no_progress
from .config import write_json_atomic
from .engine import Availability, TrainingEngine
from .export import describe, import_external_lora
from .job import RunSummary, TrainingJob, TrainingResult
from .preflight import checked_preflight
from .process import EngineProcessError, run_tool
from .staging import stage_dataset

WORK_DIR = "mflux"
MAX_ADAPTER_BYTES = 4 * 1024**3
# LoRA target layouts per mflux model family (module paths with a {block} range), from mflux's examples.
TARGETS = {
    "z-image": [("layers.{block}.attention.to_q", 30), ("layers.{block}.attention.to_k", 30),
                ("layers.{block}.attention.to_v", 30), ("layers.{block}.attention.to_out.0", 30)],
}


def lora_targets(model: str, rank: int) -> list[dict]:
    name = Path(model).name  # a model name, or a local folder named after it
    for prefix, targets in TARGETS.items():
        if name.startswith(prefix):
            return [{"module_path": path, "blocks": {"start": 0, "end": end}, "rank": rank} for path, end in targets]
    raise ValueError(f"mflux: no LoRA target layout known for model '{model}' (known: {', '.join(TARGETS)})")


def train_json(job: TrainingJob, data: Path, out: Path) -> dict:
    c = job.config
    return {
        "model": str(job.model), "data": str(data), "seed": c.seed, "steps": c.sample_steps or 20,
        "quantize": c.quantize, "max_resolution": c.resolution, "low_ram": False,
        "training_loop": {"num_epochs": c.epochs, "batch_size": c.batch_size},
        "optimizer": {"name": "AdamW", "learning_rate": c.learning_rate},
        "checkpoint": {"save_frequency": c.save_every or 10**9, "output_path": str(out)},
        "lora_layers": {"targets": lora_targets(str(job.model), c.rank)},
    }


def latest_checkpoint(out: Path) -> Path | None:
    zips = sorted(out.rglob("*_checkpoint.zip"), key=lambda p: p.name)
    return zips[-1] if zips else None


def extract_adapter(checkpoint: Path, folder: Path) -> Path:
    """The LoRA adapter named in the zip's checkpoint.json (size-bounded, no path traversal)."""
    with zipfile.ZipFile(checkpoint) as archive:
        index = json.loads(archive.read("checkpoint.json"))
        name = index["files"]["lora_adapter"]
        info = archive.getinfo(name)
        if "/" in name or "\\" in name or name.startswith(".") or info.file_size > MAX_ADAPTER_BYTES:
            raise ValueError(f"{checkpoint}: unexpected adapter entry {name!r} ({info.file_size} bytes)")
        target = folder / Path(name).name
        target.write_bytes(archive.read(info))
    return target


class MfluxEngine(TrainingEngine):
    name = "mflux"
    families = ("flux",)
    description = "mflux-train (MLX on Apple Silicon; set LORA_LAB_MFLUX_TRAIN or put mflux-train on PATH)"

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable or os.environ.get("LORA_LAB_MFLUX_TRAIN") or shutil.which("mflux-train")

    def availability(self) -> Availability:
        if not self.executable or not Path(self.executable).is_file():
            return Availability(False, ("mflux-train not found: 'pip install mflux' on an Apple Silicon Mac, or set "
                                        "LORA_LAB_MFLUX_TRAIN to the executable",))
        return Availability(True)

    def train(self, job: TrainingJob, progress: Progress = no_progress, log=print) -> TrainingResult:
        config, started = job.config, time.time()
        report = checked_preflight(job.dataset, config.trigger_word, config.resolution, config.caption_template)
        out = job.run_dir / WORK_DIR
        resume = latest_checkpoint(out) if job.resume else None
        job.check_output(resumable=resume is not None)
        self.check(config.family)
        config.save(job.run_dir)
        if resume is not None:
            command = [self.executable, "--resume", str(resume)]
        else:
            subset = stage_dataset(report, job.run_dir, flat=True)[0]
            spec = job.run_dir / "train.json"
            write_json_atomic(spec, train_json(job, subset.folder, out))
            command = [self.executable, "--config", str(spec)]
        log("mflux: " + " ".join(command))
        outcome = run_tool(command, progress, log=log)
        if outcome.returncode != 0:
            raise EngineProcessError(self.name, f"exited with code {outcome.returncode}", outcome.stderr_tail)
        final = latest_checkpoint(out)
        if final is None:
            raise EngineProcessError(self.name, f"finished without writing a checkpoint under {out}",
                                     outcome.stderr_tail)
        steps = outcome.last_step
        summary = RunSummary(self.name, "mlx", config.precision, 1, config.batch_size, 1, config.batch_size,
                             report.num_images, report.num_images, 0, steps, config.epochs)
        description = describe(job, config, summary, report, steps, config.epochs, started)
        with tempfile.TemporaryDirectory(dir=job.run_dir) as temp:
            adapter = extract_adapter(final, Path(temp))
            lora = import_external_lora(adapter, job.lora_path, description, job.overwrite or resume is not None)
        ignored = sorted({item.subset.name for item in report.items if item.subset.repeats > 1})
        warnings = [f"mflux has no repeat counts: the repeats of {', '.join(ignored)} were ignored"] if ignored else []
        return TrainingResult(lora, job.run_dir, self.name, steps, steps, summary, outcome.last_loss,
                              config_path=job.run_dir / "training_config.json", warnings=warnings)
