"""The in-process trainer: PEFT LoRA on a diffusers UNet (and optionally the text encoders), step by step.

The run is a sequence of named steps (the shape of ComfyUI's own ``nodes_train.py``, kept testable here):
preflight the dataset -> open the model -> plan batches -> load the UNet and add LoRA layers -> restore a
saved state -> cache latents and text embeddings -> sample at step 0 -> train (saving resumable states
and the loss log) -> export the LoRA, the loss plot and the final samples. Any exception during training
(ComfyUI's interrupt, Ctrl-C, an error) first saves a resumable state of the completed steps.
"""

from __future__ import annotations

import gc
import math
import shutil
import time
from dataclasses import replace
from pathlib import Path

from ..progress import Progress, no_progress
from . import adapters, encode, sampling, state
from .config import ConfigError
from .distributed import Context, average_gradients, barrier, mean_across
from .export import describe, save_trained_lora
from .job import RunSummary, TrainingJob, TrainingResult
from .losslog import PLOT_FILE, LossLog, plot_losses
from .models import TEXT_ENCODERS, open_model
from .optim import build_lr_scheduler, build_optimizer
from .policy import choose_policy
from .preflight import PreflightReport, checked_preflight, write_missing_captions
from .schedule import DataOrder, Layout, bucket_size, total_steps
from .step import Conditioning, DiffusionLoss, draw_noise

ENGINE_NAME = "inprocess"


class TrainingOutOfMemory(ValueError):
    """The device ran out of memory mid-run; the completed steps were saved and can be resumed."""


def dataset_digest(report: PreflightReport) -> str:
    return encode._digest([[str(i.image), i.caption, i.subset.repeats, report.sizes[i.image]] for i in report.items])


class Trainer:
    """One training run of ``job``; ``progress`` is called after every step (it may raise to interrupt)."""

    def __init__(self, job: TrainingJob, progress: Progress = no_progress, context: Context = Context(),
                 log=print) -> None:
        self.job, self.config = job, job.config
        self.progress, self.context, self.log = progress, context, log
        self.step = 0
        self.resumed_from: int | None = None
        self.losses: list[float] = []
        self.started = time.time()

    # -- setup -------------------------------------------------------------------------------------------
    def check_dataset(self) -> PreflightReport:
        """Preflight before any model loads; captions from the template are written by rank 0."""
        config = self.config
        report = checked_preflight(self.job.dataset, config.trigger_word, config.resolution, config.caption_template)
        if self.context.is_main:
            write_missing_captions(report)
        self.report = report
        return report

    def open_model(self) -> None:
        self.source = open_model(self.job.model, self.job.model_configs)
        if self.source.family != self.config.family:
            raise ConfigError(f"family: the settings are for {self.config.family} but {self.job.model.name} is a "
                              f"{self.source.family} model; use TrainingConfig.for_family('{self.source.family}')")
        import torch

        policy = choose_policy(self.config.device, self.config.precision, self.job.host_device)
        if self.context.distributed and policy.device_type == "cuda":
            policy = replace(policy, device=self.context.device, reason=f"{policy.reason}, one GPU per process")
            torch.cuda.set_device(torch.device(policy.device))
        self.policy = policy
        self.device, self.precision, self.dtype = torch.device(policy.device), policy.precision, policy.dtype
        self.scaler = policy.grad_scaler()

    def plan(self) -> RunSummary:
        config, report = self.config, self.report
        self.sizes = [bucket_size(*report.sizes[item.image], config.resolution, config.bucket_step, config.buckets)
                      for item in report.items]
        self.layout = Layout(config.batch_size, self.context.world, config.gradient_accumulation)
        self.order = DataOrder(self.sizes, [item.subset.repeats for item in report.items], self.layout, config.seed)
        self.total = total_steps(self.order.steps_per_epoch, config.epochs, config.max_steps)
        self.summary = RunSummary(
            ENGINE_NAME, str(self.device), self.precision, self.context.world, config.batch_size,
            config.gradient_accumulation, self.layout.global_batch, report.num_images, report.num_samples,
            self.order.steps_per_epoch, self.total, math.ceil(self.total / self.order.steps_per_epoch),
            self.policy.text(), self.job.memory_estimate)
        return self.summary

    def build_model(self) -> None:
        """UNet (+ text encoders when they train) with LoRA layers, optimizer and LR schedule."""
        import torch

        config = self.config
        torch.manual_seed(config.seed)
        self.unet = self.source.load_unet(self.dtype)
        adapters.add_lora(self.unet, config.rank, config.effective_alpha, config.unet_targets)
        if config.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.unet.to(self.device).train()
        self.text_encoders = None
        models = {"unet": self.unet}
        if config.train_text_encoder or (config.sample_steps and self.context.is_main):
            self.text_encoders = self.source.load_text_encoders(self.dtype)
        if config.train_text_encoder:
            for index, encoder in enumerate(self.text_encoders):
                adapters.add_lora(encoder, config.rank, config.effective_alpha, config.text_targets)
                models[f"te{index}"] = encoder.to(self.device).train()
        self.params = adapters.trainable_parameters(models)
        for param in self.params.values():
            param.data = param.data.float()
        self.optimizer = build_optimizer(config, self.params)
        self.lr_scheduler = build_lr_scheduler(config, self.optimizer, self.total)
        self.loss_fn = DiffusionLoss(self.source.noise_scheduler(), *self.source.vae_factors(), config.noise_offset,
                                     self.device, self.dtype)

    def restore(self) -> None:
        """Continue from the newest saved state (resume), or clear a previous run's work files (fresh start)."""
        run_dir, log = self.job.run_dir, LossLog(self.job.run_dir)
        saved = state.latest_state(run_dir) if self.job.resume else None
        if saved is None:
            if self.context.is_main:
                shutil.rmtree(run_dir / state.STATE_DIR, ignore_errors=True)
                shutil.rmtree(run_dir / sampling.SAMPLES_DIR, ignore_errors=True)
                log.truncate(0)
            return
        meta = state.read_meta(saved)
        state.check_compatible(meta, self.config.to_dict(), self.source.fingerprint, dataset_digest(self.report))
        state.load_state(saved, self.params, self.optimizer, self.lr_scheduler)
        if self.scaler is not None and meta.get("grad_scaler"):
            self.scaler.load_state_dict(meta["grad_scaler"])
        self.step = self.resumed_from = int(meta["step"])
        if self.context.is_main:
            log.truncate(self.step)
        self.losses = [entry["loss"] for entry in log.entries()]
        self.log(f"resumed from {saved.name} (step {self.step} of {self.total})")

    def cache_inputs(self) -> None:
        """Latents of every image and embeddings of every caption, computed once (rank 0 first, others read)."""
        if self.context.distributed and not self.context.is_main:
            barrier(self.context)
        self._cache_latents()
        self._cache_text()
        if self.context.distributed and self.context.is_main:
            barrier(self.context)

    def _cache_latents(self) -> None:
        images = [item.image for item in self.report.items]
        path = self.job.run_dir / encode.CACHE_DIR / "latents.safetensors"
        keep_vae = bool(self.config.sample_steps) and self.context.is_main
        cached = encode.encode_latents(None, images, self.sizes, self.device, self.dtype, path, self.source.fingerprint)
        vae = self.source.load_vae(self.dtype).to(self.device) if cached is None or keep_vae else None
        if cached is None:
            cached = encode.encode_latents(vae, images, self.sizes, self.device, self.dtype, path,
                                           self.source.fingerprint)
        self.means, self.stds = cached
        self.vae = vae if keep_vae else None

    def _cache_text(self) -> None:
        config = self.config
        self.captions = [item.caption for item in self.report.items]
        self.tokenizers = self.source.tokenizers()
        if config.train_text_encoder:
            self.token_ids = encode.tokenize(self.tokenizers, config.family, self.captions)
            return
        path = self.job.run_dir / encode.CACHE_DIR / "text.safetensors"
        found = encode.encode_captions(None, self.tokenizers, config.family, self.captions, self.device, path,
                                       self.source.fingerprint)
        if found is None:
            encoders = self.text_encoders or self.source.load_text_encoders(self.dtype)
            for encoder in encoders:
                encoder.to(self.device)
            found = encode.encode_captions(encoders, self.tokenizers, config.family, self.captions, self.device,
                                           path, self.source.fingerprint)
        self.caption_index, self.embeddings = found

    # -- training ----------------------------------------------------------------------------------------
    def conditioning(self, items: list[int]) -> Conditioning:
        import torch

        if self.config.train_text_encoder:
            ids = [tokens[items] for tokens in self.token_ids]
            hidden, pooled = encode.text_embeddings(self.text_encoders, self.config.family, ids, self.device)
        else:
            rows = [self.caption_index[self.captions[i]] for i in items]
            hidden = self.embeddings["hidden"][rows]
            pooled = self.embeddings["pooled"][rows] if "pooled" in self.embeddings else None
        time_ids = None
        if pooled is not None:
            time_ids = torch.tensor([self._time_ids(i) for i in items], dtype=torch.float32)
        return Conditioning(hidden, pooled, time_ids)

    def _time_ids(self, item: int) -> list[int]:
        """SDXL micro-conditioning: original size, crop top-left, target size (as diffusers' SDXL trainer)."""
        original = self.report.sizes[self.report.items[item].image]
        width, height = self.sizes[item]
        _, _, left, top = encode.cover_crop(original, (width, height))
        return [original[1], original[0], top, left, height, width]

    def train_step(self) -> float:
        """One optimizer step over this process's slices of the step's global batch; returns the mean loss."""
        import torch

        epoch, batch = self.order.batch(self.step)
        draws = draw_noise(self.config.seed, self.step, self.layout.global_batch, tuple(self.means[batch[0]].shape),
                           self.loss_fn.scheduler.config.num_train_timesteps, self.config.noise_offset)
        micro_losses = []
        for micro in range(self.layout.accumulation):
            positions = self.layout.slice(list(range(len(batch))), self.context.rank, micro)
            items = [batch[p] for p in positions]
            means = torch.stack([self.means[i] for i in items])
            stds = torch.stack([self.stds[i] for i in items])
            loss = self.loss_fn(self.unet, means, stds, positions, draws, self.conditioning(items))
            scaled = loss / self.layout.accumulation
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            micro_losses.append(loss.item())
        self._optimizer_step(list(self.params.values()))
        self.epoch = epoch
        return mean_across(sum(micro_losses) / len(micro_losses), self.context)

    def _optimizer_step(self, params: list) -> None:
        """Average, unscale (fp16), clip, step: with a GradScaler a step whose gradients overflowed is skipped."""
        import torch

        average_gradients(params, self.context)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def train(self) -> None:
        log = LossLog(self.job.run_dir) if self.context.is_main else None
        try:
            while self.step < self.total:
                loss = self.train_step()
                self.step += 1
                self.losses.append(loss)
                if log is not None:
                    log.append(self.step, self.epoch + 1, loss, self.lr_scheduler.get_last_lr()[0])
                self.progress(self.step, self.total, f"step {self.step}/{self.total} loss {loss:.4f}")
                self._periodic_work()
        except BaseException as exc:
            if _out_of_memory(exc):
                self.optimizer.zero_grad(set_to_none=True)
                _empty_device_cache()
            saved = self._save_on_stop()
            if _out_of_memory(exc):
                raise TrainingOutOfMemory(self._oom_message(saved)) from None
            raise
        finally:
            if log is not None:
                log.close()

    def _periodic_work(self) -> None:
        config = self.config
        if config.save_every and self.step % config.save_every == 0 and self.step < self.total:
            self.save_state()
        if config.sample_every and self.step % config.sample_every == 0 and self.step < self.total:
            self.sample()

    def _save_on_stop(self) -> None:
        """Keep the completed steps resumable when training stops early (interrupt, Ctrl-C, error)."""
        if self.context.is_main and self.step > (self.resumed_from or 0):
            saved = self.save_state()
            self.log(f"stopped at step {self.step}; resumable state saved in {saved}")
            return saved
        return None

    def _oom_message(self, saved: Path | None) -> str:
        kept = (f"steps 1-{self.step} are saved in {saved}; turn resume on to continue from there" if saved
                else "no step had completed, so nothing was saved")
        estimate = self.job.memory_estimate or "no memory estimate"
        return (f"out of {self.device} memory at step {self.step + 1} of {self.total} ({estimate}); {kept}. "
                "Lower batch_size or resolution, turn gradient_checkpointing on, or use a smaller rank")

    def save_state(self) -> Path | None:
        if not self.context.is_main:
            return None
        meta = {"config": self.config.to_dict(), "model": self.source.fingerprint,
                "dataset": dataset_digest(self.report), "epoch": self.step // self.order.steps_per_epoch,
                "batch_in_epoch": self.step % self.order.steps_per_epoch, "total_steps": self.total,
                "policy": self.policy.text(),
                "grad_scaler": self.scaler.state_dict() if self.scaler is not None else None}
        saved = state.save_state(self.job.run_dir, self.step, self.params, self.optimizer, self.lr_scheduler, meta,
                                 self.config.keep_states)
        LossLog(self.job.run_dir).sync()
        self.log(f"state saved at step {self.step}: {saved}")
        return saved

    # -- outputs -----------------------------------------------------------------------------------------
    def sample(self) -> list[Path]:
        """Samples with the current LoRA (rank 0 only); empty when sampling is off."""
        if not (self.context.is_main and self.config.sample_steps):
            return []
        import torch

        encoders = self.text_encoders or []
        for encoder in encoders:
            encoder.to(self.device)
        self.unet.eval()
        pipeline = sampling.build_pipeline(self.config.family, self.unet, self.vae, encoders, self.tokenizers,
                                           self.source.scheduler_config())
        prompts = list(self.config.sample_prompts) or [self.captions[0]]
        size = self.config.sample_resolution or self.config.resolution
        with torch.no_grad():
            paths = sampling.generate(pipeline, prompts, size, self.config.sample_steps, self.config.seed,
                                      self.job.run_dir, self.step, self.device)
        self.unet.train()
        return paths

    def export(self) -> Path | None:
        if not self.context.is_main:
            return None
        names = [spec.name for spec in TEXT_ENCODERS[self.config.family]]
        trained_encoders = self.text_encoders if self.config.train_text_encoder else []
        weights = adapters.extract_lora(self.unet, trained_encoders, names, self.config.family,
                                        self.config.effective_alpha)
        description = describe(self.job, self.config, self.summary, self.report, self.step,
                                math.ceil(self.step / self.order.steps_per_epoch), self.started)
        overwrite = self.job.overwrite or self.job.resume
        return save_trained_lora(self.job.lora_path, weights, description, overwrite)

    def run(self) -> TrainingResult:
        """All steps in order; returns the result (files written by rank 0)."""
        self.check_dataset()
        self.job.check_output(resumable=self.job.resume and state.latest_state(self.job.run_dir) is not None)
        self.open_model()
        self.plan()
        self.log(self.summary.text())
        if self.context.is_main:
            self.config_path = self.config.save(self.job.run_dir)
        self._timed("loaded the UNet and added LoRA layers", self.build_model)
        self.restore()
        self._timed("cached latents and text embeddings", self.cache_inputs)
        first = sampling.sample_paths(self.job.run_dir, 0, 1)[0]
        if self.config.sample_steps and not first.exists():
            self._timed("sampled the step-0 baseline", self.sample)
        barrier(self.context)
        self._timed(f"trained to step {self.total}", self.train)
        return self._timed("saved the LoRA, plot and final samples", self.finish)

    def _timed(self, what: str, step):
        start = time.perf_counter()
        value = step()
        self.log(f"{what} in {time.perf_counter() - start:.1f} s")
        return value

    def finish(self) -> TrainingResult:
        if self.context.is_main:
            self.save_state()  # so a later resume with more epochs/steps continues from the end
        lora = self.export()
        plot = None
        samples = []
        if self.context.is_main:
            plot = self.job.run_dir / PLOT_FILE
            plot_losses(LossLog(self.job.run_dir).entries(), plot, f"{self.job.name}: loss per step")
            samples = [*sampling.sample_paths(self.job.run_dir, 0, 1), *self.sample()]
            samples = [path for path in samples if path.exists()]
        barrier(self.context)
        return TrainingResult(lora, self.job.run_dir, ENGINE_NAME, self.step, self.total, self.summary,
                              self.losses[-1] if self.losses else None, list(self.losses), plot, samples,
                              self.resumed_from, getattr(self, "config_path", None))

    def release(self) -> int:
        """Drop every model, cache and optimizer this run holds; return the bytes that gave back (device
        memory on a GPU, resident memory on the CPU)."""
        from ..common.process_memory import return_freed_memory
        from .memory import resident_bytes

        before = _device_bytes(self.__dict__.get("device")) or resident_bytes() or 0
        for name in ("unet", "text_encoders", "vae", "params", "optimizer", "lr_scheduler", "loss_fn", "means",
                     "stds", "embeddings", "token_ids", "source", "scaler", "tokenizers"):
            self.__dict__.pop(name, None)
        return_freed_memory()
        after = _device_bytes(self.__dict__.get("device")) or resident_bytes() or 0
        return max(0, before - after)


def _device_bytes(device) -> int | None:
    import torch

    if device is not None and device.type == "cuda":
        return torch.cuda.memory_reserved(device)
    return None


def _out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError)


def _empty_device_cache() -> None:  # after an OOM: so the state can still be saved
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
