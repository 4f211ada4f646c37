"""The deterministic samplers (probability-flow ODE solvers), with the signature and
conventions described in `nodes.ops.sampling.samplers`."""

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
    lms_coefficients,
    to_d,
    unipc_update,
)


@torch.no_grad()
def sample_euler(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """Euler's method on the probability-flow ODE (Karras et al. 2022, arXiv:2206.00364)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        x = x + to_d(x, sigma, denoised) * (sigma_next - sigma)
    return x


@torch.no_grad()
def sample_heun(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """Heun's second-order method (Karras et al. 2022, arXiv:2206.00364, Algorithm 1)."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        d = to_d(x, sigma, denoised)
        x_euler = x + d * (sigma_next - sigma)
        if sigma_next == 0.0:
            x = x_euler
            continue
        d_next = to_d(x_euler, sigma_next, run.denoise(x_euler, sigma_next))
        x = x + (d + d_next) * ((sigma_next - sigma) / 2)
    return x


@torch.no_grad()
def sample_dpm_2(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """DPM-Solver-2 (Lu et al. 2022, arXiv:2206.00927) as in Karras et al. 2022, Algorithm 1."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        x = dpm2_step(run, x, denoised, sigma, sigma_next)
    return x


@torch.no_grad()
def sample_lms(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    order: int = 4,
) -> Tensor:
    """Variable-step Adams-Bashforth on the probability-flow ODE in sigma (Karras et al. 2022)."""
    if order < 1:
        raise ValueError(f"lms needs an order of at least 1, not {order}")
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    history: list[Tensor] = []
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        if sigma_next == sigma:  # a repeated sigma: nothing to integrate
            continue
        history = [*history, to_d(x, sigma, denoised)][-order:]
        coefficients = lms_coefficients(run.values, i, len(history))
        for coefficient, d in zip(coefficients, reversed(history), strict=True):
            x = x + coefficient * d
    return x


@torch.no_grad()
def sample_dpmpp_2m(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, arXiv:2211.01095, Algorithm 2)."""
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
            target = denoised
            if previous is not None:
                target = denoised + (denoised - previous) * (h / (2 * h_last))
            alpha = run.noising.alpha(sigma_next)
            x = (sigma_next / sigma) * x - (alpha * math.expm1(-h)) * target
            h_last = h
        previous = denoised
    return x


@torch.no_grad()
def sample_ddim(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """Deterministic DDIM, eta=0 (Song et al. 2021, arXiv:2010.02502); in x/alpha and sigma
    it is the same update as Euler: x_next = D + sigma_next * (x - D) / sigma."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        x = denoised + (sigma_next / sigma) * (x - denoised)
    return x


@torch.no_grad()
def sample_uni_pc(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    order: int = 3,
    variant: str = "bh1",
) -> Tensor:
    """UniPC, data prediction (Zhao et al. 2023, arXiv:2302.04867): a multistep predictor
    of order up to 3, lower at the first and last steps, each corrected once (UniC). Its
    B(h) is -h (variant bh1, ComfyUI's uni_pc) or e^{-h} - 1 (bh2, its uni_pc_bh2)."""
    if not 1 <= order <= 3:
        raise ValueError(f"uni_pc takes an order from 1 to 3, not {order}")
    if variant not in ("bh1", "bh2"):
        raise ValueError(f"uni_pc's variant is bh1 or bh2, not {variant!r}")
    bh1 = variant == "bh1"
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    steps = len(run.values) - 1
    outputs: list[Tensor] = []  # denoised estimates, newest last
    lambdas: list[float] = []  # their lambda = log(alpha / sigma)
    # What the last predictor step started from, for the corrector: x, outputs, lambdas.
    last: tuple[Tensor, list[Tensor], list[float]] | None = None
    noising = run.noising
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        if last is not None:
            x = unipc_update(
                *last, noising.lam(sigma), corrector=denoised, noising=noising, bh1=bh1
            )
        run.report(i, x, denoised)
        last = None
        if sigma_next == sigma:  # a repeated sigma: nothing to integrate
            continue
        outputs, lambdas = [*outputs, denoised][-order:], [*lambdas, noising.lam(sigma)][-order:]
        if sigma_next == 0.0:
            x = denoised
            continue
        p = min(order, len(outputs), steps - i)
        last = (x, outputs[-p:], lambdas[-p:])
        x = unipc_update(*last, noising.lam(sigma_next), noising=noising, bh1=bh1)
    return x


@torch.no_grad()
def sample_uni_pc_bh2(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    order: int = 3,
) -> Tensor:
    """UniPC with B(h) = e^{-h} - 1 (Zhao et al. 2023, arXiv:2302.04867, variant bh2)."""
    return sample_uni_pc(
        model, x, sigmas, extra_args=extra_args, callback=callback, order=order, variant="bh2"
    )


@torch.no_grad()
def sample_heunpp2(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> Tensor:
    """Heun++ (Carzit's sd-webui-samplers-scheduler, as ComfyUI's heunpp2): Euler predictions
    to the next two sigmas, their slopes averaged with weights sigma / (3 * sigmas[0]) (two
    slopes: / 2), and an Euler step with that slope; three model calls a step, two on the
    step before the last, one on the last."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    values, end = run.values, run.values[-1]
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        d = to_d(x, sigma, denoised)
        step = sigma_next - sigma
        if sigma_next == end:
            x = x + d * step
            continue
        # Slopes at sigma_next (and sigma_after), each from an Euler prediction.
        x_next = x + d * step
        slopes = [d, to_d(x_next, sigma_next, run.denoise(x_next, sigma_next))]
        points = [sigma_next]
        if values[i + 2] != end:
            sigma_after = values[i + 2]
            x_after = x_next + slopes[1] * (sigma_after - sigma_next)
            slopes.append(to_d(x_after, sigma_after, run.denoise(x_after, sigma_after)))
            points.append(sigma_after)
        scale = len(slopes) * values[0]
        weights = [1.0 - sum(points) / scale, *(p / scale for p in points)]
        x = x + step * sum(w * s for w, s in zip(weights, slopes, strict=True))
    return x


def _gradient_estimation(run: SamplerRun, x: Tensor, gamma: float, cfg_pp: bool) -> Tensor:
    previous: Tensor | None = None  # the last step's slope
    for i, sigma, sigma_next in run.steps():
        denoised, uncond = run.denoise_with_uncond(x, sigma)
        run.report(i, x, denoised)
        d = to_d(x, sigma, uncond if cfg_pp else denoised)
        step = sigma_next - sigma
        if sigma_next == 0.0:
            x = denoised
        else:
            x = denoised + d * sigma_next if cfg_pp else x + d * step
            if previous is not None:  # the slope's change, extrapolated
                x = x + (gamma - 1.0) * (d - previous) * step
        previous = d
    return x


@torch.no_grad()
def sample_gradient_estimation(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    ge_gamma: float = 2.0,
) -> Tensor:
    """Gradient estimation (Permenter & Yuan 2024, arXiv:2306.04848): Euler with the slope
    extrapolated by ge_gamma - 1 times its change since the last step."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _gradient_estimation(run, x, ge_gamma, cfg_pp=False)


@torch.no_grad()
def sample_gradient_estimation_cfg_pp(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    ge_gamma: float = 2.0,
) -> Tensor:
    """Gradient estimation (arXiv:2306.04848) with CFG++ (arXiv:2406.08070): the slope taken
    from the unconditional estimate, the step from the guided one."""
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _gradient_estimation(run, x, ge_gamma, cfg_pp=True)
