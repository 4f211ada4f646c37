"""ER-SDE-Solver-3 (Cui et al. 2023, arXiv:2309.06169): the extended reverse-time SDE in
the VP data-prediction form, with ComfyUI's noise scale function s(l) = l (e^(l^0.3) + 10)
of l = sigma / alpha, up to third order: the first stage is exact for a constant estimate,
the second and third add its first and second differences in l, weighted by integrals of
1 / s taken numerically (200 points, as the paper's code does).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from nodes.ops.sampling.samplers.steps import Callback, Model, NoiseSampler, SamplerRun

POINTS = 200  # the numerical integrals' points


def noise_scale(level: float) -> float:
    """ER-SDE's default noise scale function of l = sigma / alpha."""
    return level * (math.exp(level**0.3) + 10.0)


def _integrals(start: float, end: float) -> tuple[float, float]:
    """Left Riemann sums from `end` up to `start` of 1 / s(l) and (l - start) / s(l)."""
    width = (start - end) / POINTS
    points = [end + k * width for k in range(POINTS)]
    first = sum(1.0 / noise_scale(p) for p in points) * width
    second = sum((p - start) / noise_scale(p) for p in points) * width
    return first, second


@torch.no_grad()
def sample_er_sde(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    s_noise: float = 1.0,
    max_stage: int = 3,
) -> Tensor:
    """ER-SDE-Solver-3 (Cui et al. 2023, arXiv:2309.06169), VP data prediction."""
    if not 1 <= max_stage <= 3:
        raise ValueError(f"er_sde takes a max_stage from 1 to 3, not {max_stage}")
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    noising = run.noising
    # l = sigma / alpha of every sigma (a flow model's sigma 1 held just below it)
    levels = [math.exp(-noising.lam(s)) if s > 0.0 else 0.0 for s in run.values]
    previous: Tensor | None = None  # the last step's estimate
    previous_slope: Tensor | None = None  # its first difference in l
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        if sigma_next == 0.0:
            x = denoised
        else:
            level, level_next = levels[i], levels[i + 1]
            # alpha = sigma / l: finite where a flow model's alpha(1) is 0
            alpha, alpha_next = sigma / level, sigma_next / level_next
            ratio = noise_scale(level_next) / noise_scale(level)
            x = (alpha_next / alpha) * ratio * x + alpha_next * (1 - ratio) * denoised
            if previous is not None and max_stage >= 2 and levels[i - 1] != level:
                step = level_next - level
                first, second = _integrals(level, level_next)
                slope = (denoised - previous) / (level - levels[i - 1])
                x = x + alpha_next * (step + first * noise_scale(level_next)) * slope
                if previous_slope is not None and max_stage >= 3:
                    curve = (slope - previous_slope) / ((level - levels[i - 2]) / 2)
                    weight = step**2 / 2 + second * noise_scale(level_next)
                    x = x + alpha_next * weight * curve
                previous_slope = slope
            std = math.sqrt(max(0.0, level_next**2 - level**2 * ratio**2))
            if s_noise > 0.0 and std > 0.0:
                x = x + run.noise(x, sigma, sigma_next) * (alpha_next * s_noise * std)
        previous = denoised
    return x
