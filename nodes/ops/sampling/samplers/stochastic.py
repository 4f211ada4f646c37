"""The stochastic samplers (ancestral, SDE, LCM), with the signature of `deterministic`.

Each draws its fresh noise from `noise_sampler(sigma, sigma_next)` only (torch.randn_like(x)
when None), so a seeded noise sampler makes a run reproducible. `eta` scales the amount of
noise (1 = the full stochastic step, 0 = deterministic) and `s_noise` the noise itself.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from nodes.ops.sampling.samplers.steps import (
    Callback,
    Model,
    NoiseSampler,
    SamplerRun,
    dpm2_step,
    sde_coefficients,
)


@torch.no_grad()
def sample_euler_ancestral(
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
    """Euler steps with ancestral (DDPM, Ho et al. 2020, arXiv:2006.11239) noise."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        sigma_down, keep, sigma_up = run.ancestral(sigma, sigma_next, eta)
        x = denoised + (sigma_down / sigma) * (x - denoised)
        if sigma_up > 0.0:
            x = keep * x + run.noise(x, sigma, sigma_next) * (s_noise * sigma_up)
    return x


@torch.no_grad()
def sample_dpm_2_ancestral(
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
    """DPM-Solver-2 (Lu et al. 2022, arXiv:2206.00927) steps with ancestral noise."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        sigma_down, keep, sigma_up = run.ancestral(sigma, sigma_next, eta)
        x = dpm2_step(run, x, denoised, sigma, sigma_down)
        if sigma_up > 0.0:
            x = keep * x + run.noise(x, sigma, sigma_next) * (s_noise * sigma_up)
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
    solver_type: str = "midpoint",
) -> Tensor:
    """SDE-DPM-Solver++(2M) (Lu et al. 2022, arXiv:2211.01095): the difference of the last
    two estimates weighted as at the midpoint or, `solver_type="heun"`, by the exact phi_2
    integral (which at eta 0 is RES multistep)."""
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type is 'midpoint' or 'heun', not {solver_type!r}")
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    previous: Tensor | None = None
    h_last = 0.0
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        if sigma_next == sigma:  # a repeated sigma: nothing to integrate
            continue
        if sigma_next == 0.0:
            x = denoised
        else:
            h = run.noising.h(sigma, sigma_next)
            keep, data, noise_std = sde_coefficients(sigma, sigma_next, eta, run.noising)
            x = keep * x + data * denoised
            if previous is not None:
                h_eta = (1.0 + eta) * h
                if solver_type == "heun":  # 1 - (1 - e^-h_eta) / h_eta, per h_last / h
                    weight = (1.0 + math.expm1(-h_eta) / h_eta) * h / h_last
                else:
                    weight = -math.expm1(-h_eta) * h / (2 * h_last)
                x = x + (run.noising.alpha(sigma_next) * weight) * (denoised - previous)
            if noise_std > 0.0:
                x = x + run.noise(x, sigma, sigma_next) * (s_noise * noise_std)
            h_last = h
        previous = denoised
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde_heun(
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
    """SDE-DPM-Solver++(2M), Heun variant (Lu et al. 2022, arXiv:2211.01095)."""
    return sample_dpmpp_2m_sde(
        model,
        x,
        sigmas,
        extra_args=extra_args,
        callback=callback,
        noise_sampler=noise_sampler,
        eta=eta,
        s_noise=s_noise,
        solver_type="heun",
    )


@torch.no_grad()
def sample_dpmpp_sde(
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
    """SDE-DPM-Solver++, singlestep second order with r = 1/2 (Lu et al. 2022, 2211.01095)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        if sigma_next == 0.0:
            x = denoised
            continue
        noising = run.noising
        sigma_mid = noising.midpoint(sigma, sigma_next)
        keep, data, noise_std = sde_coefficients(sigma, sigma_mid, eta, noising)
        noise_mid = x.new_zeros([])
        if noise_std > 0.0:
            noise_mid = run.noise(x, sigma, sigma_mid) * (s_noise * noise_std)
        x_mid = keep * x + data * denoised + noise_mid
        # With r = 1/2 the second-order combination of D(x) and D(x_mid) is D(x_mid) alone.
        denoised_mid = run.denoise(x_mid, sigma_mid)
        keep, data, _ = sde_coefficients(sigma, sigma_next, eta, noising)
        x = keep * x + data * denoised_mid
        # Both stages follow one Brownian path: the whole step's noise is the midpoint's,
        # carried on to sigma_next, plus fresh noise over [sigma_mid, sigma_next].
        carry, _, noise_std = sde_coefficients(sigma_mid, sigma_next, eta, noising)
        x = x + carry * noise_mid
        if noise_std > 0.0:
            x = x + run.noise(x, sigma_mid, sigma_next) * (s_noise * noise_std)
    return x


@torch.no_grad()
def sample_dpmpp_2s_ancestral(
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
    """DPM-Solver++(2S) (Lu et al. 2022, arXiv:2211.01095, Algorithm 1) with ancestral noise."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        sigma_down, keep, sigma_up = run.ancestral(sigma, sigma_next, eta)
        if sigma_down == 0.0:
            x = denoised
        else:
            sigma_mid = run.noising.midpoint(sigma, sigma_down)
            x_mid = denoised + (sigma_mid / sigma) * (x - denoised)
            denoised_mid = run.denoise(x_mid, sigma_mid)
            x = denoised_mid + (sigma_down / sigma) * (x - denoised_mid)
        if sigma_up > 0.0:
            x = keep * x + run.noise(x, sigma, sigma_next) * (s_noise * sigma_up)
    return x


@torch.no_grad()
def sample_lcm(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """Latent Consistency Model multistep sampling (Luo et al. 2023, arXiv:2310.04378): jump
    to the denoised estimate, then renoise to sigma_next."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        x = denoised
        if sigma_next > 0.0:
            x = run.noising.mix(x, run.noise(x, sigma, sigma_next), sigma_next)
    return x


@torch.no_grad()
def sample_dpmpp_3m_sde(
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
    """SDE-DPM-Solver++(3M) (Lu et al. 2022, arXiv:2211.01095): the SDE step with the last
    three denoised estimates' first and second differences (fewer on the first steps)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    older: list[tuple[Tensor, float]] = []  # (denoised, the step h after it), newest first
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        if sigma_next == sigma:  # a repeated sigma: nothing to integrate
            continue
        if sigma_next == 0.0:
            x = denoised
            continue
        noising = run.noising
        h = noising.h(sigma, sigma_next)
        h_eta = h * (1.0 + eta)
        keep, data, noise_std = sde_coefficients(sigma, sigma_next, eta, noising)
        x = keep * x + data * denoised
        alpha = noising.alpha(sigma_next)
        phi_2 = math.expm1(-h_eta) / h_eta + 1.0
        if len(older) >= 1:
            r0 = older[0][1] / h
            first = (denoised - older[0][0]) / r0
            if len(older) >= 2:
                r1 = older[1][1] / h
                first_older = (older[0][0] - older[1][0]) / r1
                second = (first - first_older) / (r0 + r1)
                first = first + second * r0
                phi_3 = phi_2 / h_eta - 0.5
                x = x - (alpha * phi_3) * second
            x = x + (alpha * phi_2) * first
        if noise_std > 0.0:
            x = x + run.noise(x, sigma, sigma_next) * (s_noise * noise_std)
        older = [(denoised, h), *older][:2]
    return x


@torch.no_grad()
def sample_ddpm(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """DDPM ancestral sampling (Ho et al. 2020, arXiv:2006.11239): x_next drawn from the
    posterior q(x_next | x, x0 = D). In sigma terms the posterior mean is
    D + (sigma_next / sigma)^2 (x - D) and its std sigma_next sqrt(1 - (sigma_next / sigma)^2):
    exactly euler_ancestral's step at eta = 1 (and the flow model's posterior likewise)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        sigma_down, keep, noise_std = run.ancestral(sigma, sigma_next, 1.0)
        x = denoised + (sigma_down / sigma) * (x - denoised)
        if noise_std > 0.0:
            x = keep * x + run.noise(x, sigma, sigma_next) * noise_std
    return x
