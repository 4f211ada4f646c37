"""Shared pieces of the samplers in `deterministic` and `stochastic`: the per-run
plumbing (model call, callback, noise) and the step maths (ancestral split, SDE step,
LMS and UniPC weights)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from numpy.polynomial import Polynomial
from torch import Tensor

Model = Callable[..., Tensor]
Callback = Callable[[dict[str, Any]], None]
NoiseSampler = Callable[[Tensor, Tensor], Tensor]
FLOW_EDGE = 1e-7  # lambda is infinite at sigma 0 and 1; flow schedules start at exactly 1
HOST_VALUE = "diffgraph_host_value"  # the attribute sigma_level sets on the tensor it makes


@dataclass(frozen=True)
class Noising:
    """How data and noise mix at level sigma: x = alpha(sigma) * x0 + sigma * noise.

    Diffusion models in the k-diffusion view (SD) have alpha = 1; rectified-flow models
    (Flux) have alpha = 1 - sigma. The probability-flow ODE dx/dsigma = (x - D) / sigma and
    the step D + (sigma_next / sigma) (x - D) hold for both; what differs is the half-log
    SNR lambda = log(alpha / sigma) that the exponential integrators step in, the data term's
    alpha, and how fresh noise is mixed back in.
    """

    flow: bool = False

    def alpha(self, sigma: float) -> float:
        return 1.0 - sigma if self.flow else 1.0

    def lam(self, sigma: float) -> float:
        if not self.flow:
            return -math.log(sigma)
        sigma = min(max(sigma, FLOW_EDGE), 1.0 - FLOW_EDGE)
        return math.log((1.0 - sigma) / sigma)

    def h(self, sigma: float, sigma_next: float) -> float:
        """The step in lambda from sigma to sigma_next (both above 0)."""
        if not self.flow:
            return math.log(sigma / sigma_next)
        return self.lam(sigma_next) - self.lam(sigma)

    def sigma_at(self, lam: float) -> float:
        """The sigma whose lambda is `lam` (the inverse of `lam`)."""
        return math.exp(-lam) if not self.flow else 1.0 / (1.0 + math.exp(lam))

    def midpoint(self, sigma: float, sigma_next: float) -> float:
        """The sigma halfway in lambda."""
        if not self.flow:
            return math.sqrt(sigma * sigma_next)
        middle = (self.lam(sigma) + self.lam(sigma_next)) / 2
        return 1.0 / (1.0 + math.exp(middle))

    def mix(self, x0: Tensor, noise: Tensor, sigma: Tensor | float) -> Tensor:
        """x0 noised to level sigma."""
        if not self.flow:
            return x0 + noise * sigma
        return x0 * (1.0 - sigma) + noise * sigma


VE = Noising(flow=False)
FLOW = Noising(flow=True)


@runtime_checkable
class RecordsUncond(Protocol):
    """A guided denoiser that keeps the unconditional x0 estimate of its last call, which
    the CFG++ samplers renoise with (the prompt's own estimate when nothing was guided)."""

    last_uncond: Tensor | None


class SamplerRun:
    """What every sampler needs besides its own maths: the model, the callback, the noise.
    `model.noising` (a `Noising`, VE when absent) says how the model mixes noise in."""

    def __init__(
        self,
        model: Model,
        sigmas: Tensor,
        extra_args: dict[str, Any] | None,
        callback: Callback | None,
        noise_sampler: NoiseSampler | None,
    ) -> None:
        self.model = model
        self.sigmas = sigmas
        self.extra_args = extra_args or {}
        self.callback = callback
        self.noise_sampler = noise_sampler
        self.values: list[float] = sigmas.tolist()
        self.noising: Noising = getattr(model, "noising", VE)

    def steps(self) -> Iterator[tuple[int, float, float]]:
        for i in range(len(self.values) - 1):
            yield i, self.values[i], self.values[i + 1]

    def denoise(self, x: Tensor, sigma: float) -> Tensor:
        return self.model(x, sigma_level(x, sigma), **self.extra_args)

    def denoise_with_uncond(self, x: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
        """The guided x0 estimate and the unconditional one of the same call (CFG++); a
        model that does not record it has no guidance, so its uncond is its output."""
        denoised = self.denoise(x, sigma)
        uncond = self.model.last_uncond if isinstance(self.model, RecordsUncond) else None
        return denoised, denoised if uncond is None else uncond

    def report(self, i: int, x: Tensor, denoised: Tensor) -> None:
        if self.callback is not None:
            self.callback(
                {
                    "i": i,
                    "x": x,
                    "sigma": self.sigmas[i],
                    "sigma_next": self.sigmas[i + 1],
                    "denoised": denoised,
                }
            )

    def ancestral(self, sigma: float, sigma_next: float, eta: float) -> tuple[float, float, float]:
        """(sigma_down, keep, noise_std) of an ancestral step: a deterministic step to
        sigma_down, then x = keep * x + noise_std * fresh noise lands at sigma_next with the
        right mix. A flow model's split is the diffusion one made in its equivalent sigma
        sigma / (1 - sigma), then scaled back by alpha."""
        if not self.noising.flow:
            down, up = ancestral_step(sigma, sigma_next, eta)
            return down, 1.0, up
        if sigma_next <= 0.0 or eta == 0.0:
            return sigma_next, 1.0, 0.0
        s_next = sigma_next / (1.0 - sigma_next)
        ratio = sigma_next * (1.0 - sigma) / (sigma * (1.0 - sigma_next))  # s_next / s
        s_up = min(s_next, eta * s_next * math.sqrt(max(0.0, 1.0 - ratio**2)))
        s_down = math.sqrt(s_next**2 - s_up**2)
        down = s_down / (1.0 + s_down)
        return down, (1.0 - sigma_next) / (1.0 - down), (1.0 - sigma_next) * s_up

    def noise(self, x: Tensor, sigma: float, sigma_next: float) -> Tensor:
        if self.noise_sampler is None:
            return torch.randn_like(x)
        as_tensor = self.sigmas.new_tensor
        return self.noise_sampler(as_tensor(sigma), as_tensor(sigma_next))


def sigma_level(x: Tensor, sigma: float) -> Tensor:
    """sigma for each item of x, on x's device, carrying the value it holds as a number
    (`host_sigma`): a model that needs the number (a timestep range, a ControlNet's) then
    does not read it back from the device, which would wait for every queued step."""
    level = x.new_ones([x.shape[0]]) * sigma
    # The value as the tensor stores it (sigma rounded to x's dtype), as a read-back gives.
    setattr(level, HOST_VALUE, torch.tensor(sigma, dtype=level.dtype).item())
    return level


def known_sigma(sigma: Tensor) -> float | None:
    """The number `sigma_level` attached to a level (every item holds it), if it made it."""
    value = getattr(sigma, HOST_VALUE, None)
    return None if value is None else float(value)


def host_sigma(sigma: Tensor) -> float:
    """The first sigma of a level as a number: the value `sigma_level` attached, else read
    back from the tensor (a sync on a GPU)."""
    value = known_sigma(sigma)
    return float(sigma.reshape(-1)[0]) if value is None else value


def to_d(x: Tensor, sigma: float, denoised: Tensor) -> Tensor:
    """dx/dsigma of the probability-flow ODE: (x - D(x, sigma)) / sigma."""
    return (x - denoised) / sigma


def ancestral_step(sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float]:
    """(sigma_down, sigma_up): a deterministic step to sigma_down, then noise of std sigma_up,
    with sigma_down**2 + sigma_up**2 = sigma_next**2; eta=1 is DDPM's posterior (Ho et al.)."""
    if sigma_next <= 0.0 or eta == 0.0:
        return sigma_next, 0.0
    up = eta * sigma_next * math.sqrt(max(0.0, 1.0 - (sigma_next / sigma) ** 2))
    up = min(sigma_next, up)
    return math.sqrt(sigma_next**2 - up**2), up


def sde_coefficients(
    sigma: float, sigma_next: float, eta: float, noising: Noising = VE
) -> tuple[float, float, float]:
    """(keep, data, noise_std) of the first-order data-prediction step of the diffusion SDE
    (Lu et al. 2022, arXiv:2211.01095, SDE-DPM-Solver++1), eta scaling the noise (0: the
    ODE step): x_next = keep * x + data * D(x) + noise_std * z."""
    h = noising.h(sigma, sigma_next)
    keep = (sigma_next / sigma) * math.exp(-eta * h)
    # alpha_next (1 - e^(-(1 + eta) h)); with alpha = 1 that is exactly 1 - keep.
    flow_data = noising.alpha(sigma_next) * -math.expm1(-(1.0 + eta) * h)
    data = flow_data if noising.flow else 1.0 - keep
    return keep, data, sigma_next * math.sqrt(-math.expm1(-2 * eta * h))


def dpm2_step(
    run: SamplerRun, x: Tensor, denoised: Tensor, sigma: float, sigma_to: float
) -> Tensor:
    """One DPM-Solver-2 step from sigma to sigma_to, midpoint taken in log-sigma."""
    d = to_d(x, sigma, denoised)
    if sigma_to == 0.0:
        return x + d * (sigma_to - sigma)
    sigma_mid = math.sqrt(sigma * sigma_to)
    x_mid = x + d * (sigma_mid - sigma)
    d_mid = to_d(x_mid, sigma_mid, run.denoise(x_mid, sigma_mid))
    return x + d_mid * (sigma_to - sigma)


def lms_coefficients(sigmas: list[float], i: int, order: int) -> list[float]:
    """Weights of the last `order` derivatives (newest first) for the step sigmas[i] ->
    sigmas[i + 1]: each Lagrange basis polynomial on the nodes sigmas[i], sigmas[i - 1], ...
    integrated over [sigmas[i], sigmas[i + 1]]."""
    nodes = [sigmas[i - j] for j in range(order)]
    weights = []
    for j, node in enumerate(nodes):
        others = nodes[:j] + nodes[j + 1 :]
        basis = Polynomial.fromroots(others) if others else Polynomial([1.0])
        basis = basis / math.prod(node - other for other in others)
        antiderivative = basis.integ()
        weights.append(float(antiderivative(sigmas[i + 1]) - antiderivative(sigmas[i])))
    return weights


def unipc_weights(rks: list[float], h: float, *, bh1: bool = False) -> list[float]:
    """UniPC's a_p = R_p(h)^-1 g_p(h) / B(h), data prediction, with B(h) = e^{-h} - 1 (bh2)
    or -h (bh1).

    Row k (k = 1..p) asks sum_j a_j r_j^(k-1) = k! (-h) phi_{k+1}(-h) / B(h), which makes
    B(h) sum_j a_j D_j / r_j match the k-th Taylor term of the exact integral.
    """
    if not rks:
        return []
    if len(rks) == 1:
        # One difference: its h -> 0 limit, 1/2, which makes UniP-2 DPM-Solver++(2M).
        return [0.5]
    hh = -h
    b_h = hh if bh1 else math.expm1(hh)
    g = math.expm1(hh) / hh - 1.0  # hh * phi_2(hh)
    targets = []
    factorial = 1.0
    for k in range(1, len(rks) + 1):
        targets.append(g * factorial / b_h)
        factorial *= k + 1
        g = g / hh - 1.0 / factorial  # hh * phi_{k+2}(hh)
    matrix = np.array([[r ** (k - 1) for r in rks] for k in range(1, len(rks) + 1)])
    return [float(a) for a in np.linalg.solve(matrix, np.array(targets))]


def unipc_update(
    x: Tensor,
    outputs: list[Tensor],
    lambdas: list[float],
    lambda_next: float,
    corrector: Tensor | None = None,
    *,
    noising: Noising = VE,
    bh1: bool = False,
) -> Tensor:
    """One UniPC step (Zhao et al. 2023, arXiv:2302.04867), data prediction, bh2 (or bh1:
    the corrections weighted by B(h) = -h instead of e^{-h} - 1).

    `x` lies at lambdas[-1] (lambda = -log sigma) where the model gave outputs[-1]; the older
    outputs and lambdas give the differences. Without `corrector` this is the predictor UniP of
    order len(outputs); with it (the model output at lambda_next, taken at the predicted x)
    it is the corrector UniC of one order more, still landing at lambda_next.
    """
    lambda_s, output_s = lambdas[-1], outputs[-1]
    h = lambda_next - lambda_s
    rks = [(lam - lambda_s) / h for lam in reversed(lambdas[:-1])]
    diffs = [(out - output_s) / r for out, r in zip(reversed(outputs[:-1]), rks, strict=True)]
    if corrector is not None:
        rks.append(1.0)
        diffs.append(corrector - output_s)
    data = math.expm1(-h)  # the first-order term's weight, e^{-h} - 1
    b_h = -h if bh1 else data  # the corrections' B(h)
    if noising.flow:  # x_next = (sigma_next / sigma) x - alpha_next (data D + B corrections)
        sigma_s, sigma_t = (1.0 / (1.0 + math.exp(lam)) for lam in (lambda_s, lambda_next))
        x = (sigma_t / sigma_s) * x
        data, b_h = data * (1.0 - sigma_t), b_h * (1.0 - sigma_t)
    else:
        x = math.exp(-h) * x
    x = x - data * output_s
    for weight, diff in zip(unipc_weights(rks, h, bh1=bh1), diffs, strict=True):
        x = x - (b_h * weight) * diff
    return x
