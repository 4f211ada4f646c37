"""Linear multistep samplers on the probability-flow ODE dx/dsigma = d(x, sigma): each step
combines the derivatives of the last few steps with fixed or precomputed weights, one model
call a step. A step to sigma = 0 lands on the denoised estimate.

- ipndm: Adams-Bashforth weights for equal steps (Zhang & Chen 2023, arXiv:2204.13902,
  "iPNDM"), order up to 4, whatever the steps;
- ipndm_v: the same with weights for unequal steps, as zju-pi's diff-sampler and ComfyUI
  publish them and so as ours keep them: orders 2 and 3 exact to second order on any steps
  (and third on equal ones); order 4's weights add up only when successive steps shrink by
  one ratio (exactly so on an exponential schedule, nearly on any smooth one);
- deis: DEIS "tAB" (Zhang & Chen 2023): the derivative interpolated in the time t of a
  VP-SDE whose noise levels are the sigmas, integrated exactly over each step, order up to 3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nodes.ops.sampling.samplers.steps import (
    Callback,
    Model,
    NoiseSampler,
    SamplerRun,
    to_d,
)

# Weights of d_n, d_n-1, ... for equal steps, by order (Adams-Bashforth).
ADAMS_BASHFORTH = (
    (1.0,),
    (3 / 2, -1 / 2),
    (23 / 12, -16 / 12, 5 / 12),
    (55 / 24, -59 / 24, 37 / 24, -9 / 24),
)
Weights = Callable[[list[float], int, int], list[float]]


def _multistep(run: SamplerRun, x: Tensor, weights: Weights, max_order: int) -> Tensor:
    """The loop all three share: x += sum of weights * the newest derivatives."""
    history: list[Tensor] = []  # derivatives, newest first
    for i, sigma, sigma_next in run.steps():
        denoised = run.denoise(x, sigma)
        run.report(i, x, denoised)
        history = [to_d(x, sigma, denoised), *history][:max_order]
        if sigma_next == 0.0:
            x = denoised
            continue
        order = min(max_order, len(history))
        for weight, d in zip(weights(run.values, i, order), history, strict=False):
            x = x + weight * d
    return x


def ipndm_weights(sigmas: list[float], i: int, order: int) -> list[float]:
    """The step times the Adams-Bashforth weights for equal steps."""
    step = sigmas[i + 1] - sigmas[i]
    return [step * w for w in ADAMS_BASHFORTH[order - 1]]


def ipndm_v_weights(sigmas: list[float], i: int, order: int) -> list[float]:
    """iPNDM's weights for unequal steps h = sigmas[k + 1] - sigmas[k], times the step."""
    h = [sigmas[i + 1 - k] - sigmas[i - k] for k in range(order)]  # h[0] is this step's
    if order == 1:
        return [h[0]]
    ratio = h[0] / h[1]
    w = [1.0 + ratio / 2, -ratio / 2]  # AB2 for unequal steps
    if order >= 3:
        spread1 = h[1] * (h[1] + h[2])  # from the newest node to the second older
        third = (1.0 - h[0] ** 2 / (3.0 * spread1)) / 2
        w = [w[0] + third, w[1] - (1.0 + h[1] / h[2]) * third, third * h[1] / h[2]]
    if order == 4:
        reach = h[0] + h[1]
        spread2 = h[2] * (h[2] + h[3])
        span = (h[1] + h[2] + h[3]) * h[1] * (h[1] + h[2])
        fourth = (1.0 - h[0] / (3.0 * reach)) / 2 + (1.0 - h[0] / (2.0 * reach)) * h[0] / (
            6.0 * (reach + h[2])
        )
        fourth *= h[0] * reach * (reach + h[2]) / span
        ratio2 = h[1] * (h[1] + h[2]) / spread2
        w = [
            w[0] + fourth,
            w[1] - (1.0 + h[1] / h[2] + ratio2) * fourth,
            w[2] + (h[1] / h[2] + ratio2 * (1.0 + h[2] / h[3])) * fourth,
            -fourth * ratio2 * h[1] / h[2],
        ]
    return [h[0] * weight for weight in w]


# DEIS's VP-SDE: beta(t) linear, sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1),
# fitted so that sigma(1e-3) = 0.002 and sigma(1) = 80 (EDM's range, as DEIS sets it).
_EPS_T, _SIGMA_LOW, _SIGMA_HIGH = 1e-3, 0.002, 80.0
_BETA_D = 2 * (math.log1p(_SIGMA_LOW**2) / _EPS_T - math.log1p(_SIGMA_HIGH**2)) / (_EPS_T - 1.0)
_BETA_MIN = math.log1p(_SIGMA_HIGH**2) - _BETA_D / 2
_GAUSS_NODES, _GAUSS_WEIGHTS = np.polynomial.legendre.leggauss(16)


def vp_time(sigma: np.ndarray | float) -> np.ndarray:
    """The VP time t of a noise level sigma: the root of
    beta_d t^2 / 2 + beta_min t = log(1 + sigma^2)."""
    log_snr_gap = np.log1p(np.square(sigma))
    return (np.sqrt(_BETA_MIN**2 + 2 * _BETA_D * log_snr_gap) - _BETA_MIN) / _BETA_D


def deis_weights(sigmas: list[float], i: int, order: int) -> list[float]:
    """Weight of each of the last `order` derivatives: the integral over this step, in
    sigma, of its Lagrange basis polynomial in the VP time t (smooth in sigma, so a
    16-point Gauss-Legendre rule is exact to rounding)."""
    if order == 1:
        return [sigmas[i + 1] - sigmas[i]]
    nodes = vp_time(np.array([sigmas[i - k] for k in range(order)]))
    start, end = sigmas[i], sigmas[i + 1]
    points = vp_time(start + (end - start) * (_GAUSS_NODES + 1.0) / 2)
    weights = []
    for j, node in enumerate(nodes):
        others = np.delete(nodes, j)
        basis = np.prod((points[:, None] - others) / (node - others), axis=1)
        weights.append(float(basis @ _GAUSS_WEIGHTS) * (end - start) / 2)
    return weights


@torch.no_grad()
def sample_ipndm(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    max_order: int = 4,
) -> Tensor:
    """Improved PNDM (Zhang & Chen 2023, arXiv:2204.13902): Adams-Bashforth for equal steps."""
    if not 1 <= max_order <= 4:
        raise ValueError(f"ipndm takes a max_order from 1 to 4, not {max_order}")
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _multistep(run, x, ipndm_weights, max_order)


@torch.no_grad()
def sample_ipndm_v(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    max_order: int = 4,
) -> Tensor:
    """Improved PNDM with unequal-step weights (Zhang & Chen 2023, arXiv:2204.13902)."""
    if not 1 <= max_order <= 4:
        raise ValueError(f"ipndm_v takes a max_order from 1 to 4, not {max_order}")
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _multistep(run, x, ipndm_v_weights, max_order)


@torch.no_grad()
def sample_deis(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseSampler | None = None,
    max_order: int = 3,
) -> Tensor:
    """DEIS tAB (Zhang & Chen 2023, arXiv:2204.13902), derivatives interpolated in VP time."""
    if not 1 <= max_order <= 4:
        raise ValueError(f"deis takes a max_order from 1 to 4, not {max_order}")
    run = SamplerRun(model, sigmas, extra_args, callback, noise_sampler)
    return _multistep(run, x, deis_weights, max_order)
