"""SEEDS-2 and SEEDS-3 (Gonzalez et al. 2023, arXiv:2305.14267): two- and three-stage
stochastic exponential integrators in data prediction, the model called at lambda_s + r h
(and r_2 h) besides the start, with the noise of the segments following one Brownian path.
SEEDS-2 at r = 1 and eta = 0 is the exponential Heun method (ComfyUI's exp_heun_2_x0; with
noise, exp_heun_2_x0_sde).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from nodes.ops.sampling.samplers.steps import Callback, Model, NoiseSampler, SamplerRun


def h_phi_2(z: float) -> float:
    """z phi_2(z) = (e^z - 1 - z) / z: the weight of a linear term in an exponential step."""
    return (math.expm1(z) - z) / z


class BrownianSegments:
    """The SDE noise of one step taken in segments (s = r_0 < r_1 < ... in lambda): each
    segment's noise is the last one's carried on, plus fresh noise for its own length."""

    def __init__(self, run: SamplerRun, x: Tensor, h: float, eta: float) -> None:
        self.run, self.x, self.h, self.eta = run, x, h, eta
        self.total = x.new_zeros([])
        self.r = 0.0

    def to(self, r: float, sigma_from: float, sigma_to: float) -> Tensor:
        """The noise (unit std at sigma_to's scale) over the segment ending at r."""
        decay = (self.r - r) * self.h * self.eta
        fresh = math.sqrt(-math.expm1(2 * decay))
        self.total = self.total * math.exp(decay)
        if fresh > 0.0:
            self.total = self.total + self.run.noise(self.x, sigma_from, sigma_to) * fresh
        self.r = r
        return self.total


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


class _Stages:
    """The stages of one SEEDS step from x at sigma: each an exponential step to
    lambda_s + r h with its own estimate, plus the Brownian noise so far."""

    def __init__(
        self, run: SamplerRun, x: Tensor, sigma: float, h: float, eta: float, s_noise: float
    ) -> None:
        self.run, self.x, self.sigma, self.h, self.eta = run, x, sigma, h, eta
        self.s_noise = s_noise
        self.noise = BrownianSegments(run, x, h, eta)

    def to(self, r: float, sigma_to: float, data: Tensor, sigma_from: float) -> Tensor:
        """x taken to lambda_s + r h (sigma_to) with `data` as its step's estimate term."""
        out = (sigma_to / self.sigma) * math.exp(-r * self.h * self.eta) * self.x
        out = out - self.run.noising.alpha(sigma_to) * data
        if self.s_noise > 0.0:
            out = out + self.noise.to(r, sigma_from, sigma_to) * (sigma_to * self.s_noise)
        return out


def _seeds_3(
    run: SamplerRun, x: Tensor, *, eta: float, s_noise: float, r_1: float, r_2: float
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
        lam = noising.lam(sigma)
        sigma_1, sigma_2 = (noising.sigma_at(lam + r * h) for r in (r_1, r_2))
        stage = _Stages(run, x, sigma, h, eta, s_noise if inject else 0.0)
        x_1 = stage.to(r_1, sigma_1, math.expm1(-r_1 * h_eta) * denoised, sigma)
        denoised_1 = run.denoise(x_1, sigma_1)
        second = r_2 / r_1 * h_phi_2(-r_2 * h_eta)
        mix = (math.expm1(-r_2 * h_eta) - second) * denoised + second * denoised_1
        x_2 = stage.to(r_2, sigma_2, mix, sigma_1)
        denoised_2 = run.denoise(x_2, sigma_2)
        third = h_phi_2(-h_eta) / r_2
        x = stage.to(
            1.0, sigma_next, (math.expm1(-h_eta) - third) * denoised + third * denoised_2, sigma_2
        )
    return x


@torch.no_grad()
def sample_seeds_3(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
    r_1: float = 1.0 / 3,
    r_2: float = 2.0 / 3,
) -> Tensor:
    """SEEDS-3 (Gonzalez et al. 2023, arXiv:2305.14267): three stages, at r_1 and r_2."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _seeds_3(run, x, eta=eta, s_noise=s_noise, r_1=r_1, r_2=r_2)


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
