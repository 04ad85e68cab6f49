"""The kohya engine: drive an installed kohya-ss/sd-scripts with ``accelerate launch`` in a subprocess.

We write the dataset TOML (staged captions, repeats, buckets) and the arguments, stream its tqdm
progress (with ``avr_loss``) into ours, keep kohya's own ``--save_state`` folders for resume (we find
the newest one ourselves: users report kohya's state paths as the confusing part), and on exit check
for the file: a crash or a missing file raises with the tail of kohya's stderr. The result is copied
into the loras folder with kohya's ``ss_*`` metadata plus our ``modelspec.*``/``lora_lab.*`` keys.

Where sd-scripts is: ``LORA_LAB_SD_SCRIPTS`` (the folder holding ``train_network.py``); the launcher is
``<sd-scripts>/venv/bin/accelerate`` or ``LORA_LAB_KOHYA_ACCELERATE`` or ``accelerate`` on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from ..progress import Progress, no_progress
from .config import ConfigError
from .engine import Availability, TrainingEngine
from .export import describe, import_external_lora
from .job import RunSummary, TrainingJob, TrainingResult
from .preflight import checked_preflight
from .process import EngineProcessError, run_tool
from .staging import stage_dataset

SCRIPTS = {"sd15": "train_network.py", "sdxl": "sdxl_train_network.py"}
OPTIMIZER_NAMES = {"adamw": "AdamW", "adamw8bit": "AdamW8bit", "adam": "Adam", "sgd": "SGDNesterov"}
MIXED_PRECISION = {"fp32": "no", "auto": "bf16", "fp16": "fp16", "bf16": "bf16"}
WORK_DIR = "kohya"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def dataset_toml(subsets, config) -> str:
    """kohya's dataset config: one dataset, one subset per staged folder with its repeats."""
    lines = ["[general]", 'caption_extension = ".txt"', "shuffle_caption = false", "keep_tokens = 0", "",
             "[[datasets]]", f"resolution = {config.resolution}", f"batch_size = {config.batch_size}",
             f"enable_bucket = {_toml_value(config.buckets)}", f"bucket_reso_steps = {config.bucket_step}",
             f"min_bucket_reso = {max(64, config.resolution // 2)}", f"max_bucket_reso = {config.resolution * 2}"]
    for subset in subsets:
        lines += ["", "  [[datasets.subsets]]", f"  image_dir = {_toml_value(subset.folder)}",
                  f"  num_repeats = {subset.repeats}"]
    return "\n".join(lines) + "\n"


def train_arguments(job: TrainingJob, toml: Path, out: Path, prompts: Path | None, resume: Path | None) -> list[str]:
    """sd-scripts arguments for the job's settings (kohya option names)."""
    c = job.config
    args = ["--pretrained_model_name_or_path", str(job.model), "--dataset_config", str(toml), "--output_dir", str(out),
            "--output_name", job.name, "--save_model_as", "safetensors", "--network_module", "networks.lora",
            "--network_dim", str(c.rank), "--network_alpha", str(c.effective_alpha),
            "--learning_rate", str(c.learning_rate), "--optimizer_type", OPTIMIZER_NAMES[c.optimizer],
            "--lr_scheduler", c.lr_scheduler, "--lr_warmup_steps", str(c.warmup_steps),
            "--mixed_precision", MIXED_PRECISION[c.precision], "--seed", str(c.seed),
            "--max_grad_norm", str(c.max_grad_norm), "--gradient_accumulation_steps", str(c.gradient_accumulation),
            "--save_state", "--save_state_on_train_end"]
    args += ["--max_train_steps", str(c.max_steps)] if c.max_steps else ["--max_train_epochs", str(c.epochs)]
    args += ["--save_every_n_steps", str(c.save_every)] if c.save_every else []
    args += ["--network_train_unet_only"] if not c.train_text_encoder else (
        ["--text_encoder_lr", str(c.text_encoder_lr)] if c.text_encoder_lr else [])
    args += ["--cache_latents"] if c.cache_latents else []
    args += ["--gradient_checkpointing"] if c.gradient_checkpointing else []
    args += ["--noise_offset", str(c.noise_offset)] if c.noise_offset else []
    if prompts is not None:
        args += ["--sample_prompts", str(prompts), "--sample_at_first", "--sample_every_n_epochs", str(c.epochs),
                 "--sample_sampler", "ddim"]
    args += ["--resume", str(resume)] if resume is not None else []
    return args


def latest_kohya_state(out: Path) -> Path | None:
    """The newest ``*-state`` folder kohya's --save_state wrote (by its step/epoch number, then time)."""
    states = [path for path in out.glob("*-state") if path.is_dir()]
    return max(states, key=lambda p: (p.stat().st_mtime_ns, p.name)) if states else None


class KohyaEngine(TrainingEngine):
    name = "kohya"
    families = ("sd15", "sdxl")
    description = "kohya-ss/sd-scripts through accelerate launch (set LORA_LAB_SD_SCRIPTS)"

    def __init__(self, sd_scripts: str | None = None, accelerate: str | None = None) -> None:
        folder = sd_scripts or os.environ.get("LORA_LAB_SD_SCRIPTS", "")
        self.sd_scripts = Path(folder).expanduser() if folder else None
        self.accelerate = accelerate or os.environ.get("LORA_LAB_KOHYA_ACCELERATE") or self._find_accelerate()

    def _find_accelerate(self) -> str | None:
        if self.sd_scripts is not None:
            for candidate in (self.sd_scripts / "venv" / "bin" / "accelerate",
                              self.sd_scripts / "venv" / "Scripts" / "accelerate.exe"):
                if candidate.is_file():
                    return str(candidate)
        return shutil.which("accelerate")

    def availability(self) -> Availability:
        missing = []
        if self.sd_scripts is None:
            missing.append("sd-scripts not configured: set LORA_LAB_SD_SCRIPTS to the folder holding train_network.py")
        elif not (self.sd_scripts / SCRIPTS["sd15"]).is_file():
            missing.append(f"{self.sd_scripts / SCRIPTS['sd15']} not found (is LORA_LAB_SD_SCRIPTS the sd-scripts folder?)")
        if not self.accelerate:
            missing.append("no 'accelerate' launcher: install sd-scripts' requirements (venv/bin/accelerate) or set "
                           "LORA_LAB_KOHYA_ACCELERATE")
        return Availability(not missing, tuple(missing))

    def command(self, job: TrainingJob, args: list[str]) -> list[str]:
        launch = [self.accelerate, "launch", "--num_cpu_threads_per_process", "1", "--num_processes", str(job.processes)]
        launch += ["--multi_gpu"] if job.processes > 1 else []
        return [*launch, str(self.sd_scripts / SCRIPTS[job.config.family]), *args]

    def train(self, job: TrainingJob, progress: Progress = no_progress, log=print) -> TrainingResult:
        config, started = job.config, time.time()
        report = checked_preflight(job.dataset, config.trigger_word, config.resolution, config.caption_template)
        out = job.run_dir / WORK_DIR
        resume = latest_kohya_state(out) if job.resume else None
        job.check_output(resumable=resume is not None)
        self.check(config.family)
        subsets = stage_dataset(report, job.run_dir)
        toml = job.run_dir / "dataset.toml"
        toml.write_text(dataset_toml(subsets, config), encoding="utf-8")
        config.save(job.run_dir)
        prompts = self._prompts(job, report) if config.sample_steps else None
        arguments = train_arguments(job, toml, out, prompts, resume)
        self.check_arguments(config.family, arguments, log)
        command = self.command(job, arguments)
        log("kohya: " + " ".join(command))
        outcome = run_tool(command, progress, cwd=str(self.sd_scripts), log=log)
        produced = out / f"{job.name}.safetensors"
        if outcome.returncode != 0:
            raise EngineProcessError(self.name, f"exited with code {outcome.returncode}", outcome.stderr_tail)
        if not produced.is_file():
            raise EngineProcessError(self.name, f"finished without writing {produced}", outcome.stderr_tail)
        steps = outcome.last_step
        summary = RunSummary(self.name, "sd-scripts", config.precision, job.processes, config.batch_size,
                             config.gradient_accumulation, config.batch_size * job.processes * config.gradient_accumulation,
                             report.num_images, report.num_samples, 0, steps, config.epochs)
        description = describe(job, config, summary, report, steps, config.epochs, started)
        lora = import_external_lora(produced, job.lora_path, description, job.overwrite or resume is not None)
        samples = sorted((out / "sample").glob("*.png")) if (out / "sample").is_dir() else []
        return TrainingResult(lora, job.run_dir, self.name, steps, steps, summary, outcome.last_loss,
                              samples=samples, config_path=job.run_dir / "training_config.json")

    def check_arguments(self, family: str, arguments: list[str], log=print) -> None:
        """Refuse, before launching, any argument the checkout's own parser would reject (read from its source;
        a script without sd-scripts' ``setup_parser`` is launched unchecked, and the log says so)."""
        from .kohya_args import argument_problems, read_options

        options = read_options(self.sd_scripts, SCRIPTS[family])
        if not options:
            log(f"kohya: no setup_parser in {SCRIPTS[family]}; arguments not checked against sd-scripts' parser")
            return
        problems = argument_problems(arguments, options)
        if problems:
            raise ConfigError(f"kohya: {self.sd_scripts / SCRIPTS[family]} would reject: " + "; ".join(problems))

    def _prompts(self, job: TrainingJob, report) -> Path:
        """kohya's sample-prompt file: one line per prompt with its size/steps/seed options."""
        c = job.config
        prompts = list(c.sample_prompts) or [report.items[0].caption]
        size = c.sample_resolution or c.resolution
        path = job.run_dir / "sample_prompts.txt"
        path.write_text("".join(f"{p} --w {size} --h {size} --s {c.sample_steps} --d {c.seed}\n" for p in prompts),
                        encoding="utf-8")
        return path
