"""Memory preflight: the peak a training run will need, computed before any weight is loaded.

The models are built from their configs on the meta device, given fake storage (``FakeTensorMode``: shapes
and dtypes, no bytes) and run through one real training step (forward, loss, backward, optimizer step,
twice, so the optimizer state exists during the second forward), the VAE encode of the latent cache, and,
when sampling is on, a guided UNet call and a VAE decode. A dispatch mode counts the bytes of every live
storage as the kernels create and free them; the highest count is the phase's peak. That covers weights
(in the run's precision), LoRA parameters and their gradients (fp32), the optimizer state, the activations
for batch x resolution with gradient checkpointing on or off, and attention's temporaries, exactly as the
kernels allocate them; cached latents and embeddings are added by formula (host memory, unless the run is
on the CPU). The run's phases follow the trainer: caching (UNet + VAE), training, sampling.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from .encode import VAE_BATCH
from .models import TEXT_ENCODERS

GB = 1024 ** 3


def size_text(size: int) -> str:
    return f"{size / GB:.2f} GB" if size >= GB else f"{size / 2**20:.0f} MB"


class MemoryPreflightError(ValueError):
    """The run cannot fit on its device: the message gives the estimate, what is free and what to change."""


@dataclass
class MemoryEstimate:
    """Estimated peak bytes on ``device`` per phase, with the parts that make up the training step."""

    device: str
    phases: dict[str, int]
    parts: dict[str, int] = field(default_factory=dict)
    available: int | None = None

    @property
    def peak(self) -> int:
        return max(self.phases.values())

    @property
    def fits(self) -> bool:
        return self.available is None or self.peak <= self.available

    def text(self) -> str:
        parts = ", ".join(f"{name} {size_text(value)}" for name, value in self.parts.items())
        free = f"; {size_text(self.available)} available" if self.available is not None else ""
        return f"estimated peak {size_text(self.peak)} on {self.device} ({parts}){free}"

    def to_dict(self) -> dict:
        return {"device": self.device, "peak_bytes": self.peak, "phases": dict(self.phases),
                "parts": dict(self.parts), "available_bytes": self.available}


class LiveBytes:
    """A dispatch mode that adds up the storages alive at each moment (fake or real) and keeps the peak."""

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        tracker = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                tracker.track_all(out)
                return out

        self.mode = _Mode()
        self.live: dict[int, weakref.ref] = {}
        self.now = self.peak = 0

    def track_all(self, tree) -> None:
        import torch
        from torch.utils._pytree import tree_flatten

        for leaf in tree_flatten(tree)[0]:
            if isinstance(leaf, torch.Tensor):
                self.track(leaf)

    def track(self, tensor) -> None:
        storage = tensor.untyped_storage()
        key = id(storage)
        if key in self.live:
            return
        size = storage.nbytes()
        self.live[key] = weakref.ref(storage, lambda _ref, key=key, size=size: self._gone(key, size))
        self.now += size
        self.peak = max(self.peak, self.now)

    def _gone(self, key: int, size: int) -> None:
        if self.live.pop(key, None) is not None:
            self.now -= size

    def reset_peak(self) -> None:
        self.peak = self.now

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)


def fake_model(factory, dtype, fake_mode, lora: tuple | None = None):
    """``factory()`` built on the meta device (LoRA layers added there), then given fake storage: the base
    weights in ``dtype``, the LoRA parameters in fp32 (as the trainer keeps them)."""
    import torch

    from .adapters import add_lora

    with torch.device("meta"):
        model = factory()
    model.requires_grad_(False)
    if lora:
        add_lora(model, *lora)
    with fake_mode:
        for module in model.modules():
            for name, param in list(module._parameters.items()):
                if param is not None:
                    kind = torch.float32 if param.requires_grad else (dtype if param.is_floating_point() else param.dtype)
                    module._parameters[name] = torch.nn.Parameter(torch.empty(param.shape, dtype=kind),
                                                                  requires_grad=param.requires_grad)
            for name, buffer in list(module._buffers.items()):
                if buffer is not None:
                    module._buffers[name] = torch.empty(buffer.shape, dtype=buffer.dtype)
    return model


def weight_bytes(model) -> int:
    return sum(t.untyped_storage().nbytes() for t in [*model.parameters(), *model.buffers()])


@dataclass
class Shapes:
    """What the trace feeds the models: batch, latent side, caption width, SDXL's extra conditioning."""

    batch: int
    latent: int
    hidden: int
    pooled: int | None
    image: int
    images: int
    sample_latent: int


def _unet_inputs(shapes: Shapes, batch: int, latent: int, dtype):
    import torch

    noisy = torch.randn(batch, 4, latent, latent).to(dtype)
    extra = {}
    if shapes.pooled:
        extra["added_cond_kwargs"] = {"text_embeds": torch.randn(batch, shapes.pooled).to(dtype),
                                      "time_ids": torch.randn(batch, 6).to(dtype)}
    return noisy, torch.randint(0, 1000, (batch,)), torch.randn(batch, 77, shapes.hidden).to(dtype), extra


def trace_training_step(unet, config, shapes: Shapes, dtype, fake_mode) -> tuple[int, int, int]:
    """(weights at start, peak, bytes alive after the step) of a full optimizer step.

    One step is traced; the steps after it differ only in that the optimizer state (created by the first
    ``optimizer.step()``) is alive during their forward and backward, so their peak is the first step's
    forward/backward peak plus that state."""
    import torch

    from .optim import build_optimizer

    tracker = LiveBytes()
    with fake_mode:
        tracker.track_all([*unet.parameters(), *unet.buffers()])
        start = tracker.now
        if config.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        unet.train()
        params = {f"unet.{index}": p for index, p in enumerate(p for p in unet.parameters() if p.requires_grad)}
        optimizer = build_optimizer(config, params)
        with tracker:
            noisy, steps, hidden, extra = _unet_inputs(shapes, shapes.batch, shapes.latent, dtype)
            with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
                prediction = unet(noisy, steps, hidden, **extra).sample
            # aten's op directly: a wrapper installed on F.mse_loss (the bench's step clock) must not see fakes
            torch.ops.aten.mse_loss(prediction.float(), noisy.float()).backward()
            del prediction, noisy, hidden, extra
            backward_peak = tracker.peak
            torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        unet.eval()
        optimizer_state = tracker.now - start
        return start, max(tracker.peak, backward_peak + optimizer_state), tracker.now


def trace_no_grad(call, model, fake_mode) -> int:
    """Peak bytes above the model's weights while ``call()`` runs without gradients."""
    import torch

    tracker = LiveBytes()
    with fake_mode:
        tracker.track_all([*model.parameters(), *model.buffers()])
        start = tracker.now
        with tracker, torch.no_grad():
            call()
    return tracker.peak - start


def _parts(source, config, dtype, fake_mode) -> dict:
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from .models import _text_model

    unet_config = source.part_config("unet")
    lora = (config.rank, config.effective_alpha, config.unet_targets)
    names = ["text_encoder", "text_encoder_2"][:len(TEXT_ENCODERS[config.family])]
    text_lora = (config.rank, config.effective_alpha, config.text_targets) if config.train_text_encoder else None
    return {"unet": fake_model(lambda: UNet2DConditionModel.from_config(unet_config), dtype, fake_mode, lora),
            "vae": fake_model(lambda: AutoencoderKL.from_config(source.part_config("vae")), dtype, fake_mode),
            "text": [fake_model(_text_model(source.part_config(name)), dtype, fake_mode, text_lora)
                     for name in names], "unet_config": unet_config}


def _shapes(config, unet_config: dict, text_configs: list, images: int) -> Shapes:
    pooled = None
    if unet_config.get("addition_embed_type") == "text_time":
        pooled = unet_config["projection_class_embeddings_input_dim"] - 6 * unet_config["addition_time_embed_dim"]
    sample = config.sample_resolution or config.resolution
    return Shapes(config.batch_size, config.resolution // 8,
                  int(unet_config["cross_attention_dim"]), pooled, config.resolution, images, sample // 8)


def host_cache_bytes(config, shapes: Shapes, text_width: int) -> int:
    """Cached latents (posterior mean and std, fp32) and caption embeddings (fp32), one per image."""
    latents = shapes.images * 2 * 4 * shapes.latent * shapes.latent * 4
    text = 0 if config.train_text_encoder else shapes.images * 77 * text_width * 4
    return latents + text


def estimate_memory(source, config, images: int, device: str, dtype, available: int | None = None) -> MemoryEstimate:
    """The run's peak on ``device`` per phase (caching, training, sampling); nothing is loaded."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake_mode.cache_enabled = False  # the cache's key building costs more than it saves for one pass
    parts = _parts(source, config, dtype, fake_mode)
    unet, vae, text = parts["unet"], parts["vae"], parts["text"]
    shapes = _shapes(config, parts["unet_config"], text, images)
    unet_start, train_peak, after_step = trace_training_step(unet, config, shapes, dtype, fake_mode)
    vae_bytes, text_bytes = weight_bytes(vae), sum(weight_bytes(model) for model in text)
    pixels = lambda: torch.randn(min(VAE_BATCH, images), 3, shapes.image, shapes.image).to(dtype)  # noqa: E731
    encode = trace_no_grad(lambda: vae.encode(pixels()).latent_dist.std, vae, fake_mode)
    keep_vae = config.sample_steps > 0
    keep_text = config.sample_steps > 0 or config.train_text_encoder
    host = host_cache_bytes(config, shapes, shapes.hidden) if device.startswith("cpu") else 0
    phases = {"cache": unet_start + vae_bytes + encode + (text_bytes if keep_text else 0) + host,
              "train": train_peak + (vae_bytes if keep_vae else 0)
              + (text_bytes if keep_text and not config.train_text_encoder else 0) + host}
    if config.train_text_encoder:
        phases["train"] += text_bytes
    if config.sample_steps:
        unet_call = lambda: unet(*_sample_inputs(shapes, dtype)[:3], **_sample_inputs(shapes, dtype)[3])  # noqa: E731
        decode = lambda: vae.decode(torch.randn(1, 4, shapes.sample_latent, shapes.sample_latent).to(dtype))  # noqa: E731
        transient = max(trace_no_grad(unet_call, unet, fake_mode), trace_no_grad(decode, vae, fake_mode))
        phases["sample"] = after_step + vae_bytes + text_bytes + transient + host
    named = {"UNet + LoRA": unet_start, "training step": train_peak - unet_start, "VAE": vae_bytes,
             "text encoders": text_bytes, "caches": host}
    return MemoryEstimate(device, phases, {k: v for k, v in named.items() if v}, available)


def _sample_inputs(shapes: Shapes, dtype):
    return _unet_inputs(shapes, 2, shapes.sample_latent, dtype)


def available_bytes(device: str) -> int | None:
    """Memory free for the run on ``device`` now: the GPU's free memory, the system's available RAM on the CPU."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    if device == "cpu":
        try:
            for line in open("/proc/meminfo", encoding="ascii"):
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def changes_that_help(config) -> list[str]:
    """What the user can change to lower the peak, in the order that usually helps most."""
    import importlib.util

    changes = []
    if config.batch_size > 1:
        changes.append(f"batch_size {config.batch_size} -> {max(1, config.batch_size // 2)} (gradient_accumulation "
                       "keeps the effective batch)")
    if not config.gradient_checkpointing:
        changes.append("turn gradient_checkpointing on")
    if config.resolution > 512:
        changes.append(f"resolution {config.resolution} -> {config.resolution * 3 // 4 // 64 * 64}")
    if config.rank > 16:
        changes.append(f"rank {config.rank} -> {config.rank // 2}")
    if config.optimizer in ("adamw", "adam") and importlib.util.find_spec("bitsandbytes") is not None:
        changes.append("optimizer adamw8bit")
    if config.sample_steps:
        changes.append("sample_steps 0 (no sample images)")
    return changes


def refuse_if_too_big(estimate: MemoryEstimate, config) -> None:
    """Raise :class:`MemoryPreflightError` with the figures and what to change when the run cannot fit."""
    if estimate.fits:
        return
    changes = changes_that_help(config) or ["use a device with more memory"]
    raise MemoryPreflightError(f"not enough memory: {estimate.text()}. Change: " + "; ".join(changes))


def resident_bytes() -> int | None:
    """This process's resident set now (Linux ``/proc/self/statm``), None elsewhere."""
    import os

    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
