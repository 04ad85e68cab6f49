"""``train_lora``: the one use case behind the CLI's ``train run`` and the LoRA Trainer node.

Settings become a checked :class:`~.config.TrainingConfig` for the model's family, the job is built, the
engine chosen, and, for the in-process engine, the memory preflight runs before anything is loaded: the
estimated peak on the run's device (``policy``) against what is free there; a run that cannot fit is
refused with the figures and what to change. The estimate is kept in the job so the run summary and an
out-of-memory error repeat it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..progress import Progress, no_progress
from .config import TrainingConfig
from .job import TrainingJob, TrainingResult, default_run_dir


@dataclass
class TrainRequest:
    """What to train (dataset, model, name, settings) and where the files go; ``settings`` override the
    family's defaults (None values mean the default)."""

    dataset: Path
    model: Path
    name: str
    output_dir: Path
    run_root: Path
    settings: dict = field(default_factory=dict)
    engine: str = "auto"
    family: str | None = None
    subfolder: str = ""
    resume: bool = False
    overwrite: bool = False
    processes: int = 1
    host_device: str | None = None  # the device ComfyUI runs its models on (inside ComfyUI)
    memory_check: bool = True


def model_family(model: Path, engine: str = "auto") -> str:
    """sd15/sdxl from the checkpoint or diffusers folder; flux for an mflux model name (not a path)."""
    if engine == "mflux" or not Path(model).expanduser().exists():
        return "flux"
    from .models import open_model

    return open_model(model).family


def build_job(request: TrainRequest) -> TrainingJob:
    family = request.family or model_family(request.model, request.engine)
    config = TrainingConfig.for_family(family, **request.settings)
    return TrainingJob(Path(request.dataset), Path(request.model), request.name, config, Path(request.output_dir),
                       default_run_dir(request.run_root, request.name), subfolder=request.subfolder,
                       resume=request.resume, overwrite=request.overwrite, processes=request.processes,
                       host_device=request.host_device)


def memory_preflight(job: TrainingJob):
    """The run's estimated peak on its device (nothing loaded), refused when it cannot fit."""
    from .dataset import scan_folder
    from .memory import available_bytes, estimate_memory, refuse_if_too_big
    from .models import open_model
    from .policy import choose_policy

    policy = choose_policy(job.config.device, job.config.precision, job.host_device)
    try:
        images = max(1, len(scan_folder(job.dataset).images))
    except (FileNotFoundError, NotADirectoryError):
        images = 1  # the dataset preflight names the problem next
    estimate = estimate_memory(open_model(job.model, job.model_configs), job.config, images, policy.device,
                               policy.dtype, available_bytes(policy.device))
    refuse_if_too_big(estimate, job.config)
    return estimate


def train_lora(request: TrainRequest, progress: Progress = no_progress, log=print) -> TrainingResult:
    """Train the LoRA ``request`` describes; errors a user can act on are ValueErrors with one clear message."""
    from .registry import choose_engine

    job = build_job(request)
    engine = choose_engine(request.engine, job.config.family)
    if request.memory_check and engine.name == "inprocess" and job.processes == 1:
        job.memory_estimate = memory_preflight(job).text()
        log(job.memory_estimate)
    return engine.train(job, progress, log=log)
