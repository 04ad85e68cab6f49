"""One training step's math: the diffusion loss with the model's own noise scheduler.

Per sample: draw a latent from the cached VAE posterior, add the scheduler's noise at a random
timestep, predict with the UNet (+LoRA), and take the MSE against the scheduler's target (the noise
for epsilon models, the velocity for v-prediction models). All randomness of a step comes from one
generator seeded with (seed, step) for the whole global batch; each process uses its slice.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schedule import step_seed


@dataclass
class StepNoise:
    """The random draws of one optimizer step for the whole global batch."""

    posterior: object  # [G, C, h, w] standard normal, for sampling the latent
    noise: object  # [G, C, h, w]
    timesteps: object  # [G]
    offset: object | None  # [G, C, 1, 1] offset noise, or None


def draw_noise(seed: int, step: int, global_batch: int, latent_shape: tuple[int, ...], timesteps: int,
               noise_offset: float) -> StepNoise:
    import torch

    generator = torch.Generator("cpu").manual_seed(step_seed(seed, step))
    shape = (global_batch, *latent_shape)
    posterior = torch.randn(shape, generator=generator)
    noise = torch.randn(shape, generator=generator)
    steps = torch.randint(0, timesteps, (global_batch,), generator=generator)
    offset = torch.randn((global_batch, latent_shape[0], 1, 1), generator=generator) if noise_offset else None
    return StepNoise(posterior, noise, steps, offset)


@dataclass
class Conditioning:
    hidden: object  # [b, 77, D]
    pooled: object | None = None  # [b, P] (SDXL)
    time_ids: object | None = None  # [b, 6] (SDXL)


class DiffusionLoss:
    """MSE between the UNet's prediction and the scheduler's target for noised latents."""

    def __init__(self, noise_scheduler, scaling_factor: float, shift_factor: float | None, noise_offset: float,
                 device, dtype) -> None:
        self.scheduler = noise_scheduler
        self.scaling = scaling_factor
        self.shift = shift_factor or 0.0
        self.noise_offset = noise_offset
        self.prediction = noise_scheduler.config.prediction_type
        self.device, self.dtype = device, dtype

    def __call__(self, unet, means, stds, positions: list[int], draws: StepNoise, cond: Conditioning):
        import torch
        import torch.nn.functional as F

        index = torch.tensor(positions)
        latents = (means + stds * draws.posterior[index] - self.shift) * self.scaling
        noise = draws.noise[index]
        if draws.offset is not None:
            noise = noise + self.noise_offset * draws.offset[index]
        timesteps = draws.timesteps[index]
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        target = noise if self.prediction == "epsilon" else self.scheduler.get_velocity(latents, noise, timesteps)
        extra = {}
        if cond.pooled is not None:
            extra["added_cond_kwargs"] = {"text_embeds": cond.pooled.to(self.device, self.dtype),
                                          "time_ids": cond.time_ids.to(self.device, self.dtype)}
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            prediction = unet(noisy.to(self.device, self.dtype), timesteps.to(self.device),
                              cond.hidden.to(self.device, self.dtype), **extra).sample
        return F.mse_loss(prediction.float(), target.to(self.device).float(), reduction="mean")
