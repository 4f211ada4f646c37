"""Sampling a latent: sigmas from a scheduler, reproducible noise, a sampler over the
guided denoiser, inpainting masks and previews, for any family (the family seam says how
its latents are scaled, how its network is called and how it mixes noise in).

Noise is drawn per batch item from a generator seeded with seed + the item's batch index,
on the CPU, so image i of a batch equals the single image rendered with its seed, on any
device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from engine.types import ConditioningPart, Latent
from nodes.ops.families.base import Family
from nodes.ops.families.registry import family_of
from nodes.ops.sampling.denoiser import GuidedDenoiser
from nodes.ops.sampling.samplers import SAMPLERS
from nodes.ops.sampling.samplers.steps import Model, Noising
from nodes.ops.sampling.schedules import SCHEDULERS, Schedule, schedule_from

# step, total, current x0 estimate. A reporter that reports a step late (to make its preview
# without waiting for the device) has a `finish()`, called when the sampler returns.
Progress = Callable[[int, int, torch.Tensor], None]


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


@dataclass(frozen=True)
class Guidance:
    """What steers the denoiser: the prompt's parts, the negative's, the CFG scale."""

    positive: Sequence[ConditioningPart]
    negative: Sequence[ConditioningPart]
    cfg: float


def model_schedule(model_config: Mapping[str, Any]) -> Schedule:
    return schedule_from(dict(model_config.get("schedule", {})))


def sigmas_for(schedule: Schedule, s: SampleSettings) -> torch.Tensor:
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
        """Fresh noise on `like`'s device for each step of a stochastic sampler."""
        pinned = like.device.type == "cuda"

        def fresh(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
            noise = self.draw()
            if pinned:  # copied from page-locked memory, the step need not wait for the device
                return noise.pin_memory().to(like.device, non_blocking=True)
            return noise.to(like.device)

        return fresh


def sample(
    network: Any,
    model_config: Mapping[str, Any],
    positive: Sequence[ConditioningPart],
    negative: Sequence[ConditioningPart],
    latent: Latent,
    settings: SampleSettings,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Denoise `latent` with a scheduler's sigmas (KSampler) and return the new samples
    (float32, on the CPU)."""
    if settings.scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {settings.scheduler!r}")
    sigmas = sigmas_for(model_schedule(model_config), settings)
    guidance = Guidance(positive, negative, settings.cfg)
    samples, _ = denoise_latent(
        network,
        model_config,
        guidance,
        latent,
        sigmas,
        settings.sampler,
        seed=settings.seed,
        add_noise=settings.add_noise,
        progress=progress,
    )
    return samples


def denoise_latent(
    network: Any,
    model_config: Mapping[str, Any],
    guidance: Guidance,
    latent: Latent,
    sigmas: torch.Tensor,
    sampler: str,
    *,
    seed: int,
    add_noise: bool = True,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `sampler` down `sigmas` from `latent` (noised to sigmas[0] when `add_noise`);
    returns the samples and the last step's x0 estimate, both as VAE latents on the CPU."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}")
    source = latent.samples.to(torch.float32)
    if len(sigmas) < 2:  # nothing to do (denoise 0, or an empty step range)
        return source.clone(), source.clone()
    family = family_of(model_config)
    device = next(network.parameters()).device
    base = _to_model(family, model_config, source).to(device)
    noise_source = BatchNoise(seed, base.shape, latent.batch_index or range(len(base)))
    noise = noise_source.draw().to(device)
    mask = _latent_mask(latent.noise_mask, base)
    schedule = model_schedule(model_config)
    source_in, mask_in = _inpaint_inputs(family, model_config, guidance, base, mask)
    call = family.model_call(network, model_config, schedule, source_in, mask_in)
    denoiser = GuidedDenoiser(
        call,
        positive=guidance.positive,
        negative=guidance.negative,
        cfg=guidance.cfg,
        schedule=schedule,
        rescale=float(model_config.get("rescale_cfg", 0.0)),  # set by RescaleCFG
    )
    model: Model = denoiser if mask is None else _Inside(mask, denoiser, base, noise)
    # The sigmas stay on the host: a sampler steps through them as numbers, and reading
    # them back from a GPU would wait for the device.
    sigmas = sigmas.to("cpu")
    x = family.noising.mix(base, noise, sigmas[0]) if add_noise else base.clone()
    last: list[torch.Tensor] = [base]
    out = _run(SAMPLERS[sampler], model, x, sigmas, noise_source, progress, last)
    samples, denoised = (_from_model(family, model_config, t.to("cpu")) for t in (out, last[0]))
    if mask is not None:  # outside the mask: exactly the input, not a rescaled copy
        keep = mask.to("cpu")
        samples = samples * keep + source * (1 - keep)
    return samples, denoised


def _to_model(family: Family, config: Mapping[str, Any], latent: torch.Tensor) -> torch.Tensor:
    """A VAE latent as the model sees it; a checkpoint's own VAE may set the scale."""
    shift = float(config.get("latent_shift", family.latent.shift))
    return (latent - shift) * float(config.get("latent_scale", family.latent.scale))


def _from_model(family: Family, config: Mapping[str, Any], x: torch.Tensor) -> torch.Tensor:
    shift = float(config.get("latent_shift", family.latent.shift))
    return x.to(torch.float32) / float(config.get("latent_scale", family.latent.scale)) + shift


def _inpaint_inputs(
    family: Family,
    config: Mapping[str, Any],
    guidance: Guidance,
    base: torch.Tensor,
    mask: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The image and mask an inpainting model sees beside x: those Inpaint Model
    Conditioning put on the prompts (the first part carrying them decides, as that node
    sets both prompts alike), else the latent itself and its noise mask."""
    parts = [*guidance.positive, *guidance.negative]
    given = next((p.extras for p in parts if "concat_latent_image" in p.extras), None)
    if given is None:
        return base, mask
    image = _to_model(family, config, given["concat_latent_image"].to(torch.float32))
    image = image.to(base.device)
    if tuple(image.shape[-2:]) != tuple(base.shape[-2:]):
        image = F.interpolate(image, size=base.shape[-2:], mode="bilinear")
    image = image.repeat(-(-base.shape[0] // image.shape[0]), 1, 1, 1)[: base.shape[0]]
    concat_mask = given.get("concat_mask")
    if concat_mask is None:
        return image, mask
    latent_mask = _latent_mask(concat_mask, base)
    return image, None if latent_mask is None else latent_mask.round()


class _Inside:
    """The denoiser limited to the mask: outside it, the source noised to the current
    level stands in for x, and the source itself for the result."""

    def __init__(
        self, mask: torch.Tensor, denoiser: GuidedDenoiser, base: torch.Tensor, noise: torch.Tensor
    ) -> None:
        self.mask, self.denoiser, self.base, self.noise = mask, denoiser, base, noise
        self.noising: Noising = denoiser.noising

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        level = sigma.reshape(-1)[:1].to(self.base.device)
        kept = self.noising.mix(self.base, self.noise, level)
        denoised = self.denoiser(x * self.mask + kept * (1 - self.mask), sigma)
        return self._inside(denoised)

    @property
    def last_uncond(self) -> torch.Tensor | None:
        """The denoiser's unconditional estimate, limited to the mask as its output is."""
        uncond = self.denoiser.last_uncond
        return None if uncond is None else self._inside(uncond)

    def _inside(self, estimate: torch.Tensor) -> torch.Tensor:
        return estimate * self.mask + self.base * (1 - self.mask)


def _run(
    sampler: Callable[..., torch.Tensor],
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    noise: BatchNoise,
    progress: Progress | None,
    last: list[torch.Tensor],
) -> torch.Tensor:
    total = len(sigmas) - 1

    def callback(info: dict[str, Any]) -> None:
        last[0] = info["denoised"]
        if progress is not None:
            progress(int(info["i"]) + 1, total, info["denoised"])

    with torch.inference_mode():
        out = sampler(
            model, x, sigmas, extra_args={}, callback=callback, noise_sampler=noise.sampler(x)
        )
    finish = getattr(progress, "finish", None)  # a reporter may hold the last step back
    if finish is not None:
        finish()
    return out


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
