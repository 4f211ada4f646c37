"""SEEDS-2 (Gonzalez et al. 2023, arXiv:2305.14267): a two-stage stochastic exponential
integrator in data prediction, the model called at lambda_s + r h and at the end, with the
noise of the two segments following one Brownian path. At r = 1 and eta = 0 it is the
exponential Heun method (ComfyUI's exp_heun_2_x0; with noise, exp_heun_2_x0_sde).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from nodes.ops.sampling.samplers.steps import Callback, Model, NoiseSampler, SamplerRun


def _seeds_2(
    run: SamplerRun, x: Tensor, *, eta: float, s_noise: float, r: float, phi_2: bool
) -> Tensor:
    noising = run.noising
    inject = eta > 0.0 and s_noise > 0.0
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        if sigma_next == 0.0:
            x = denoised
            continue
        if sigma_next == sigma:  # a repeated sigma: nothing to integrate
            continue
        h = noising.h(sigma, sigma_next)
        h_eta = h * (1.0 + eta)
        sigma_mid = noising.sigma_at(noising.lam(sigma) + r * h)
        # Stage 1: the first-order SDE step to sigma_mid.
        x_mid = (sigma_mid / sigma) * math.exp(-r * h * eta) * x
        x_mid = x_mid - noising.alpha(sigma_mid) * math.expm1(-r * h_eta) * denoised
        noise_mid = x.new_zeros([])
        if inject:
            std = math.sqrt(-math.expm1(-2 * r * h * eta))
            noise_mid = run.noise(x, sigma, sigma_mid) * std
            x_mid = x_mid + noise_mid * (sigma_mid * s_noise)
        denoised_mid = run.denoise(x_mid, sigma_mid)
        # Stage 2: the whole step with both estimates.
        if phi_2:  # the estimate interpolated linearly, integrated exactly
            second = (math.expm1(-h_eta) + h_eta) / -h_eta / r
            first = math.expm1(-h_eta) - second
            data = first * denoised + second * denoised_mid
        else:  # one estimate, mixed as the midpoint rule asks
            data = math.expm1(-h_eta) * torch.lerp(denoised, denoised_mid, 1.0 / (2.0 * r))
        x = (sigma_next / sigma) * math.exp(-h * eta) * x - noising.alpha(sigma_next) * data
        if inject:
            # The first segment's noise carried to sigma_next, plus the second segment's.
            decay = (r - 1.0) * h * eta
            noise = noise_mid * math.exp(decay)
            fresh = math.sqrt(-math.expm1(2 * decay))
            if fresh > 0.0:
                noise = noise + run.noise(x, sigma_mid, sigma_next) * fresh
            x = x + noise * (sigma_next * s_noise)
    return x


@torch.no_grad()
def sample_seeds_2(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
    r: float = 0.5,
) -> Tensor:
    """SEEDS-2 (Gonzalez et al. 2023, arXiv:2305.14267), midpoint form."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _seeds_2(run, x, eta=eta, s_noise=s_noise, r=r, phi_2=False)


@torch.no_grad()
def sample_exp_heun_2_x0(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """Exponential Heun, data prediction in lambda (SEEDS-2 at r = 1, eta = 0, phi_2 form)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _seeds_2(run, x, eta=0.0, s_noise=0.0, r=1.0, phi_2=True)


@torch.no_grad()
def sample_exp_heun_2_x0_sde(
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
    """Stochastic exponential Heun (SEEDS-2 at r = 1, phi_2 form, arXiv:2305.14267)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _seeds_2(run, x, eta=eta, s_noise=s_noise, r=1.0, phi_2=True)
