"""A training job (what to train, where to write) and what a finished or stopped run reports back."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import TrainingConfig

LORA_SUFFIX = ".safetensors"
_NAME = re.compile(r"^[\w][\w .()+-]{0,127}$")


class JobError(ValueError):
    """A job that cannot run: bad name, output exists, unknown engine..."""


def clean_name(name: str, what: str = "LoRA name") -> str:
    """A file-name-safe LoRA or folder name (no path separators, no leading dot); '.safetensors' is dropped."""
    name = name.strip()
    if name.lower().endswith(LORA_SUFFIX):
        name = name[: -len(LORA_SUFFIX)]
    if not _NAME.match(name) or name.endswith((" ", ".")):
        raise JobError(f"{what} {name!r}: use letters, digits, spaces and . _ - + ( ), up to 128 characters, "
                       "no slashes, not starting with a dot")
    return name


@dataclass
class TrainingJob:
    """Everything an engine needs: the dataset, the base model, the settings and the output places."""

    dataset: Path
    model: Path
    name: str
    config: TrainingConfig
    output_dir: Path
    run_dir: Path
    subfolder: str = ""
    resume: bool = False
    overwrite: bool = False
    processes: int = 1
    model_configs: Path | None = None  # diffusers configs for a single-file model (default: the shipped ones)
    host_device: str | None = None  # the device ComfyUI runs its models on (used when config.device is auto)
    memory_estimate: str = ""  # the preflight's peak-memory figure, repeated in the summary and an OOM error

    def __post_init__(self) -> None:
        self.dataset, self.model = Path(self.dataset), Path(self.model)
        self.model_configs = Path(self.model_configs) if self.model_configs else None
        self.output_dir, self.run_dir = Path(self.output_dir), Path(self.run_dir)
        self.name = clean_name(self.name)
        if self.subfolder:
            self.subfolder = clean_name(self.subfolder, "brand folder")
        if isinstance(self.processes, bool) or not isinstance(self.processes, int) or not 1 <= self.processes <= 64:
            raise JobError(f"processes: must be an integer from 1 to 64, got {self.processes!r}")

    @property
    def lora_path(self) -> Path:
        folder = self.output_dir / self.subfolder if self.subfolder else self.output_dir
        return folder / f"{self.name}{LORA_SUFFIX}"

    def check_output(self, resumable: bool = False) -> None:
        """Fail before any work when the LoRA exists, unless overwriting or resuming the run that wrote it."""
        if self.lora_path.exists() and not (self.overwrite or resumable):
            raise JobError(f"{self.lora_path} already exists; choose another name, or allow overwriting")

    def to_dict(self) -> dict:
        data = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}
        data["config"] = self.config.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainingJob:
        values = dict(data)
        values["config"] = TrainingConfig.from_dict(values["config"])
        return cls(**values)


@dataclass
class RunSummary:
    """What users of multi-GPU trainers most often misread: processes, batch sizes and steps per epoch."""

    engine: str
    device: str
    precision: str
    processes: int
    per_device_batch: int
    gradient_accumulation: int
    effective_batch: int
    images: int
    samples_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    epochs: int
    policy: str = ""  # device, precision, loss scaling and why that device (policy.DevicePolicy.text)
    memory: str = ""  # the preflight's peak-memory estimate

    def text(self) -> str:
        lines = [f"{self.engine} on {self.device} ({self.precision}): {self.processes} process(es) x batch "
                 f"{self.per_device_batch} x accumulation {self.gradient_accumulation} = effective batch "
                 f"{self.effective_batch}; {self.images} images, {self.samples_per_epoch} samples per epoch -> "
                 f"{self.steps_per_epoch} steps per epoch, {self.total_steps} steps ({self.epochs} epochs)"]
        if self.policy:
            lines.append(f"device policy: {self.policy}")
        if self.memory:
            lines.append(f"memory: {self.memory}")
        return "\n".join(lines)


@dataclass
class TrainingResult:
    """A finished run: the LoRA file (None only if the run was stopped), its loss history, plot and samples."""

    lora_path: Path | None
    run_dir: Path
    engine: str
    steps: int
    total_steps: int
    summary: RunSummary | None = None
    final_loss: float | None = None
    losses: list[float] = field(default_factory=list)
    loss_plot: Path | None = None
    samples: list[Path] = field(default_factory=list)
    resumed_from: int | None = None
    config_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    freed_bytes: int | None = None  # memory the run's models gave back when it ended (in-process engine)

    def to_dict(self) -> dict:
        data = asdict(self)
        return {key: str(value) if isinstance(value, Path) else value for key, value in data.items()} | {
            "samples": [str(path) for path in self.samples]}


def default_run_dir(root: str | os.PathLike[str], name: str) -> Path:
    """Where a LoRA's work files go: ``<root>/<name>/`` (state, loss log, plot, samples, caches, config)."""
    return Path(root) / clean_name(name)
