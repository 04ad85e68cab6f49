"""The in-process engine: PyTorch + diffusers + PEFT in this Python, on CPU, CUDA or MPS.

One process: :class:`~.trainer.Trainer` runs here (this is what the ComfyUI node uses; a ComfyUI
interrupt raises from the progress callback and leaves a resumable state). Several processes:
``accelerate launch`` starts :mod:`.worker` N times (DDP-style data parallelism, gloo on CPU); rank 0
prints progress lines we stream, and writes ``result.json`` when done.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys

from ..progress import Progress, no_progress
from .config import ConfigError, write_json_atomic
from .distributed import launch_command
from .engine import Availability, TrainingEngine
from .job import JobError, RunSummary, TrainingJob, TrainingResult
from .process import EngineProcessError, run_tool
from .policy import resolve_device
from .trainer import Trainer

REQUIRED_MODULES = ("torch", "diffusers", "transformers", "peft", "safetensors", "PIL")
WORKER_MODULE = f"{__package__}.worker"
RESULT_FILE = "result.json"
PROGRESS_LINE = re.compile(r"^step (\d+)/(\d+) loss ([-+0-9.eE]+|nan|inf)")


def parse_progress(line: str) -> tuple[int, int, float | None] | None:
    match = PROGRESS_LINE.match(line)
    return (int(match.group(1)), int(match.group(2)), float(match.group(3))) if match else None


def result_from_dict(data: dict) -> TrainingResult:
    from pathlib import Path

    optional = {key: Path(data[key]) if data.get(key) else None for key in ("lora_path", "loss_plot", "config_path")}
    return TrainingResult(
        optional["lora_path"], Path(data["run_dir"]), data["engine"], data["steps"], data["total_steps"],
        RunSummary(**data["summary"]) if data.get("summary") else None, data.get("final_loss"),
        list(data.get("losses", [])), optional["loss_plot"], [Path(p) for p in data.get("samples", [])],
        data.get("resumed_from"), optional["config_path"], list(data.get("warnings", [])))


class InProcessEngine(TrainingEngine):
    name = "inprocess"
    families = ("sd15", "sdxl")
    description = "PyTorch + diffusers + PEFT in this process (CPU, CUDA or MPS); multi-process via accelerate"

    def availability(self) -> Availability:
        missing = [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
        return Availability(not missing, tuple(f"Python package '{name}' is not installed" for name in missing))

    def check_settings(self, job: TrainingJob) -> None:
        """Settings this engine cannot honour, refused before any work."""
        if job.config.quantize is not None:
            raise ConfigError("quantize: the in-process engine trains unquantised weights; use the mflux engine "
                              "for quantised training, or leave quantize empty")
        if job.config.optimizer == "adamw8bit" and importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError("optimizer: adamw8bit needs the bitsandbytes package; install it or use adamw")

    def train(self, job: TrainingJob, progress: Progress = no_progress, log=print) -> TrainingResult:
        self.check(job.config.family)
        self.check_settings(job)
        if job.processes == 1:
            trainer = Trainer(job, progress, log=log)
            try:
                result = trainer.run()
            finally:
                freed = trainer.release()
            result.freed_bytes = freed
            return result
        return self._train_processes(job, progress, log)

    def _train_processes(self, job: TrainingJob, progress: Progress, log) -> TrainingResult:
        root_package = WORKER_MODULE.split(".")[0]
        if importlib.util.find_spec(root_package) is None:
            raise JobError(f"processes: multi-process training starts 'python -m {WORKER_MODULE}', but the pack is "
                           "not importable by that name here (pip install it, or use 1 process)")
        device, _ = resolve_device(job.config.device, job.host_device)
        job.run_dir.mkdir(parents=True, exist_ok=True)
        job_file = job.run_dir / "job.json"
        write_json_atomic(job_file, job.to_dict())
        (job.run_dir / RESULT_FILE).unlink(missing_ok=True)
        command = launch_command(job.processes, WORKER_MODULE, str(job_file))
        env = dict(os.environ, LORA_LAB_THREADS=os.environ.get("LORA_LAB_THREADS", str(_threads(job.processes))),
                   ACCELERATE_USE_CPU=str(device == "cpu").lower())
        log(f"launching {job.processes} processes: {' '.join(command)}")
        outcome = run_tool(command, progress, parse=parse_progress, env=env, log=log)
        result_file = job.run_dir / RESULT_FILE
        if outcome.returncode != 0 or not result_file.is_file():
            raise EngineProcessError(self.name, f"worker processes exited with code {outcome.returncode}"
                                     + ("" if result_file.is_file() else " without a result"), outcome.stderr_tail)
        return result_from_dict(json.loads(result_file.read_text(encoding="utf-8")))


def _threads(processes: int) -> int:
    import torch

    return max(1, torch.get_num_threads() // processes)


def print_progress(done: int, total: int, message: str = "") -> None:
    """Rank 0's progress in a worker: one parseable line per step on stdout."""
    print(message or f"step {done}/{total}", flush=True)
    sys.stdout.flush()
