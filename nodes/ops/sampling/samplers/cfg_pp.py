"""CFG++ samplers (Chung et al. 2024, arXiv:2406.08070): the step takes the guided x0
estimate D but renoises with the unconditional model's noise, (x - alpha U) / sigma, instead
of the guided one. That keeps the sample on the data manifold at low guidance scales
(CFG++ is meant for cfg from about 0.5 to 2, not the usual 7).

They read U from the guided denoiser (`RecordsUncond`); with no negative prompt or cfg 1
there is nothing to guide and U = D, so each equals the sampler it is built on. (ComfyUI
still runs the negative at cfg 1 for these samplers; we do not.)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from nodes.ops.sampling.samplers.steps import Callback, Model, NoiseSampler, SamplerRun


def renoised(run: SamplerRun, denoised: Tensor, eps: Tensor, sigma_to: float) -> Tensor:
    """D taken to level sigma_to along the noise eps: alpha(sigma_to) D + sigma_to eps."""
    return run.noising.alpha(sigma_to) * denoised + sigma_to * eps


def uncond_noise(run: SamplerRun, x: Tensor, uncond: Tensor, sigma: float) -> Tensor:
    """The unconditional model's estimate of the noise in x: (x - alpha U) / sigma."""
    return (x - run.noising.alpha(sigma) * uncond) / sigma


@torch.no_grad()
def sample_euler_ancestral_cfg_pp(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> Tensor:
    """Euler ancestral steps, CFG++ (Chung et al. 2024, arXiv:2406.08070)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised, uncond = run.denoise_with_uncond(x, sigma)
        run.report(i, x, denoised)
        sigma_down, keep, sigma_up = run.ancestral(sigma, sigma_next, eta)
        x = renoised(run, denoised, uncond_noise(run, x, uncond, sigma), sigma_down)
        if sigma_up > 0.0 and s_noise > 0.0:
            x = keep * x + run.noise(x, sigma, sigma_next) * (s_noise * sigma_up)
    return x


@torch.no_grad()
def sample_euler_cfg_pp(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """Euler steps, CFG++ (Chung et al. 2024, arXiv:2406.08070): x_next = D + sigma_next eps_U."""
    return sample_euler_ancestral_cfg_pp(
        model, x, sigmas, extra_args=extra_args, callback=callback, eta=0.0, s_noise=0.0
    )


@torch.no_grad()
def sample_dpmpp_2s_ancestral_cfg_pp(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> Tensor:
    """DPM-Solver++(2S) ancestral, CFG++: both stages step with the unconditional estimates
    (the second one's from the midpoint), then the step's guidance D - U is added back,
    scaled by alpha(sigma_next), as ComfyUI does."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised, uncond = run.denoise_with_uncond(x, sigma)
        run.report(i, x, denoised)
        guidance = denoised - uncond
        sigma_down, keep, sigma_up = run.ancestral(sigma, sigma_next, eta)
        if sigma_down == 0.0:
            x = uncond
        else:
            sigma_mid = run.noising.midpoint(sigma, sigma_down)
            x_mid = uncond + (sigma_mid / sigma) * (x - uncond)
            _, uncond_mid = run.denoise_with_uncond(x_mid, sigma_mid)
            x = uncond_mid + (sigma_down / sigma) * (x - uncond_mid)
        if sigma_up > 0.0:
            x = keep * x + run.noise(x, sigma, sigma_next) * (s_noise * sigma_up)
        x = x + run.noising.alpha(sigma_next) * guidance
    return x


@torch.no_grad()
def sample_dpmpp_2m_cfg_pp(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """DPM-Solver++(2M), CFG++: the first-order step D + sigma_next eps_U plus the 2M
    correction on D minus the previous step's U (ComfyUI's form; U = D gives dpmpp_2m)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    previous_uncond: Tensor | None = None
    h_last = 0.0
    for i, sigma, sigma_next in run.steps():
        denoised, uncond = run.denoise_with_uncond(x, sigma)
        run.report(i, x, denoised)
        if sigma_next == sigma:  # a repeated sigma: nothing to integrate
            continue
        x_next = renoised(run, denoised, uncond_noise(run, x, uncond, sigma), sigma_next)
        if sigma_next > 0.0:
            h = run.noising.h(sigma, sigma_next)
            if previous_uncond is not None:
                weight = -run.noising.alpha(sigma_next) * math.expm1(-h) * h / (2 * h_last)
                x_next = x_next + weight * (denoised - previous_uncond)
            h_last = h
        x, previous_uncond = x_next, uncond
    return x
