"""RES multistep (Zhang et al. 2023, arXiv:2308.02157, the second-order multistep exponential
integrator): the data-prediction step in lambda = log(alpha / sigma) with the x0 estimate
interpolated linearly through the last two, weighted by the exact phi_1 and phi_2 functions.
Four forms, as ComfyUI names them: plain, ancestral (eta), and CFG++ of each (see `cfg_pp`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from nodes.ops.sampling.samplers.cfg_pp import renoised, uncond_noise
from nodes.ops.sampling.samplers.steps import Callback, Model, NoiseSampler, SamplerRun


def res_weights(h: float, c2: float) -> tuple[float, float]:
    """(b1, b2): the weights, times h, of the current and previous x0 estimates, where the
    previous one lies c2 * h away in lambda (c2 < 0: behind)."""
    phi_1 = -math.expm1(-h) / h
    phi_2 = (1.0 - phi_1) / h
    return phi_1 - phi_2 / c2, phi_2 / c2


def _res_multistep(
    run: SamplerRun, x: Tensor, *, eta: float, s_noise: float, cfg_pp: bool
) -> Tensor:
    noising = run.noising
    previous: Tensor | None = None  # the last step's estimate (U for CFG++)
    previous_sigma = previous_down = 0.0
    for i, sigma, sigma_next in run.steps():
        denoised, uncond = run.denoise_with_uncond(x, sigma)
        run.report(i, x, denoised)
        if sigma_next == sigma:  # a repeated sigma: nothing to integrate
            continue
        estimate = uncond if cfg_pp else denoised
        sigma_down, keep, sigma_up = run.ancestral(sigma, sigma_next, eta)
        h = noising.h(sigma, sigma_down) if sigma_down > 0.0 else math.inf
        # Where the previous estimate lies: at the last sigma, while x came from the last
        # deterministic step's end (the same point unless noise was added).
        c2 = 0.0
        if previous is not None and sigma_down > 0.0 and previous_down > 0.0:
            c2 = (noising.lam(previous_sigma) - noising.lam(previous_down)) / h
        if previous is None or c2 == 0.0:
            x = renoised(run, denoised, uncond_noise(run, x, estimate, sigma), sigma_down)
        else:
            b1, b2 = res_weights(h, c2)
            if cfg_pp:  # ComfyUI adds the guidance before the step (so it is scaled by it)
                x = x + (denoised - uncond)
            data = noising.alpha(sigma_down) * h
            x = (sigma_down / sigma) * x + data * (b1 * estimate + b2 * previous)
        if sigma_up > 0.0:
            x = keep * x + run.noise(x, sigma, sigma_next) * (s_noise * sigma_up)
        previous, previous_sigma, previous_down = estimate, sigma, sigma_down
    return x


@torch.no_grad()
def sample_res_multistep(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """RES second-order multistep (Zhang et al. 2023, arXiv:2308.02157)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _res_multistep(run, x, eta=0.0, s_noise=1.0, cfg_pp=False)


@torch.no_grad()
def sample_res_multistep_cfg_pp(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """RES multistep (Zhang et al. 2023, arXiv:2308.02157), CFG++ (arXiv:2406.08070)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _res_multistep(run, x, eta=0.0, s_noise=1.0, cfg_pp=True)


@torch.no_grad()
def sample_res_multistep_ancestral(
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
    """RES multistep (Zhang et al. 2023, arXiv:2308.02157) with ancestral noise."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _res_multistep(run, x, eta=eta, s_noise=s_noise, cfg_pp=False)


@torch.no_grad()
def sample_res_multistep_ancestral_cfg_pp(
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
    """RES multistep with ancestral noise (arXiv:2308.02157), CFG++ (arXiv:2406.08070)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _res_multistep(run, x, eta=eta, s_noise=s_noise, cfg_pp=True)
