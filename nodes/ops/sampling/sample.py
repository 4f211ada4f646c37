"""Sampling a latent: sigmas from a scheduler, reproducible noise, a sampler over the
guided denoiser, inpainting masks and previews.

Noise is drawn per batch item from a generator seeded with seed + the item's batch index,
on the CPU, so image i of a batch equals the single image rendered with its seed, on any
device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from engine.types import ConditioningPart, Latent
from nodes.ops.sampling.denoiser import GuidedDenoiser, InpaintInputs
from nodes.ops.sampling.samplers import SAMPLERS, Sampler
from nodes.ops.sampling.samplers.steps import Model
from nodes.ops.sampling.schedules import SCHEDULERS, DiscreteSchedule

Progress = Callable[[int, int, torch.Tensor], None]  # step, total, current x0 estimate


@dataclass(frozen=True)
class SampleSettings:
    seed: int
    steps: int
    cfg: float
    sampler: str
    scheduler: str
    denoise: float = 1.0
    add_noise: bool = True
    start_step: int = 0
    end_step: int | None = None  # None: to the last step
    leave_noise: bool = False  # stop at end_step's sigma instead of finishing at 0


def make_schedule(config: dict[str, Any]) -> DiscreteSchedule:
    return DiscreteSchedule(**config.get("schedule", {}))


def sigmas_for(schedule: DiscreteSchedule, s: SampleSettings) -> torch.Tensor:
    """The sigmas this run steps through (img2img starts part way down)."""
    if s.denoise <= 0.0:
        return torch.zeros(0)
    total = s.steps if s.denoise >= 1.0 else int(s.steps / s.denoise)
    sigmas = SCHEDULERS[s.scheduler](schedule, total)[-(s.steps + 1) :]
    end = s.steps if s.end_step is None else min(s.end_step, s.steps)
    sigmas = sigmas[s.start_step : end + 1]
    if not s.leave_noise and len(sigmas) > 0 and float(sigmas[-1]) != 0.0:
        sigmas = torch.cat([sigmas[:-1], sigmas.new_zeros(1)])
    return sigmas


class BatchNoise:
    """Gaussian noise for each batch item from its own generator (seed + batch index)."""

    def __init__(self, seed: int, shape: torch.Size, indices: Sequence[int]) -> None:
        self.item_shape = shape[1:]
        self.generators = [torch.Generator().manual_seed((seed + i) % 2**64) for i in indices]

    def draw(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.item_shape, generator=g) for g in self.generators])

    def sampler(self, like: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        return lambda sigma, sigma_next: self.draw().to(like.device)


def sample(
    unet: Any,
    model_config: dict[str, Any],
    positive: Sequence[ConditioningPart],
    negative: Sequence[ConditioningPart],
    latent: Latent,
    settings: SampleSettings,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Denoise `latent` and return the new samples (float32, on the CPU)."""
    if settings.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {settings.sampler!r}")
    if settings.scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {settings.scheduler!r}")
    schedule = make_schedule(model_config)
    sigmas = sigmas_for(schedule, settings)
    if len(sigmas) < 2:  # nothing to do (denoise 0, or an empty step range)
        return latent.samples.to(torch.float32).clone()
    device = next(unet.parameters()).device
    scale = float(model_config.get("latent_scale", 1.0))
    base = (latent.samples.to(torch.float32) * scale).to(device)  # the model's own scale
    noise_source = BatchNoise(settings.seed, base.shape, latent.batch_index or range(len(base)))
    noise = noise_source.draw().to(device)
    mask = _latent_mask(latent.noise_mask, base)
    inpaint = None
    if unet.config.in_channels == 9:  # an inpainting model sees the mask and masked image
        inpaint = InpaintInputs(torch.ones_like(base[:, :1]) if mask is None else mask, base)
    denoiser = GuidedDenoiser(
        unet,
        schedule,
        model_config.get("prediction_type", "epsilon"),
        positive=positive,
        negative=negative,
        cfg=settings.cfg,
        inpaint=inpaint,
    )
    model = denoiser if mask is None else _inside(mask, denoiser, base, noise)
    x = base + noise * sigmas[0].to(device) if settings.add_noise else base.clone()
    out = _run(SAMPLERS[settings.sampler], model, x, sigmas.to(device), noise_source, progress)
    result = out.to("cpu", torch.float32) / scale
    if mask is not None:  # outside the mask: exactly the input, not a rescaled copy
        keep = mask.to("cpu")
        result = result * keep + latent.samples.to(torch.float32) * (1 - keep)
    return result


def _inside(mask: torch.Tensor, denoiser: Model, base: torch.Tensor, noise: torch.Tensor) -> Model:
    """The denoiser limited to the mask: outside it, the source noised to the current
    level stands in for x, and the source itself for the result."""

    def model(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        kept = base + noise * sigma.reshape(-1)[:1].to(base.device)
        denoised = denoiser(x * mask + kept * (1 - mask), sigma)
        return denoised * mask + base * (1 - mask)

    return model


def _run(
    sampler: Sampler,
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: BatchNoise,
    progress: Progress | None,
) -> torch.Tensor:
    total = len(sigmas) - 1

    def callback(info: dict[str, Any]) -> None:
        if progress is not None:
            progress(int(info["i"]) + 1, total, info["denoised"])

    with torch.inference_mode():
        return sampler(
            model, x, sigmas, extra_args={}, callback=callback, noise_sampler=noise.sampler(x)
        )


def _latent_mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    """A noise mask as [B, 1, h, w] at the latent's size."""
    if mask is None:
        return None
    m = mask.to(like.device, torch.float32)
    while m.dim() < 4:
        m = m.unsqueeze(0) if m.dim() < 3 else m.unsqueeze(1)
    if tuple(m.shape[-2:]) != tuple(like.shape[-2:]):
        m = F.interpolate(m, size=like.shape[-2:], mode="bilinear")
    if m.shape[0] != like.shape[0]:
        m = m.repeat(-(-like.shape[0] // m.shape[0]), 1, 1, 1)[: like.shape[0]]
    return m.clamp(0.0, 1.0)
