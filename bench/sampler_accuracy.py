"""Sampler accuracy on the one model whose answer is known: data ~ N(0.5, 0.8^2) elementwise,
with its exact denoiser (the same model as tests/sd/test_samplers.py).

For each deterministic sampler (and each stochastic one at eta = 0, where it has that
form) it prints the error against the exact probability-flow ODE solution after 10 and 30
Karras steps over SD's sigma range (largest |error| / largest |x - mean|), its model calls
per step, and its observed order of convergence from 20 to 40 and 40 to 80 steps, stopped
at sigma_min so that the final jump to 0 (first order in every sampler) does not hide it.

Run: .venv/bin/python bench/sampler_accuracy.py   (a markdown table; always exits 0)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from nodes.ops.sampling.samplers import SAMPLERS
from nodes.ops.sampling.schedules import get_sigmas_karras

MU, S = 0.5, 0.8
SIGMA_MIN, SIGMA_MAX = 0.0292, 14.6146
ODE = ["euler", "ddim", "heun", "heunpp2", "dpm_2", "lms", "dpmpp_2m", "uni_pc", "uni_pc_bh2"]
ODE += ["ipndm", "gradient_estimation", "exp_heun_2_x0"]
ODE += ["ipndm_v", "deis", "res_multistep"]
AT_ETA_ZERO = ["dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"]
AT_ETA_ZERO += ["res_multistep_ancestral", "seeds_2", "seeds_3"]


class CountingGaussian:
    """The exact denoiser E[x0 | x] of the Gaussian data, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        self.calls += 1
        s = sigma.to(x.dtype).reshape(-1, *[1] * (x.dim() - 1))
        return MU + S**2 / (S**2 + s**2) * (x - MU)


def error(name: str, steps: int, to_zero: bool = True, **options: Any) -> tuple[float, float]:
    """(relative error, model calls per step)."""
    sigmas = get_sigmas_karras(steps, SIGMA_MIN, SIGMA_MAX).double()
    if not to_zero:
        sigmas = sigmas[:-1]
    first, last = float(sigmas[0]), float(sigmas[-1])
    noise = torch.randn(16, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = MU + first * noise
    exact = MU + (x - MU) * math.sqrt(S**2 + last**2) / math.sqrt(S**2 + first**2)
    model = CountingGaussian()
    out = SAMPLERS[name](model, x, sigmas, **options)
    relative = float((out - exact).abs().max() / (exact - MU).abs().max())
    return relative, model.calls / (len(sigmas) - 1)


def row(name: str, **options: Any) -> str:
    e10, _ = error(name, 10, **options)
    e30, calls = error(name, 30, **options)
    e20, e40, e80 = (error(name, n, False, **options)[0] for n in (20, 40, 80))
    label = name + (" (eta 0)" if options else "")
    orders = f"{math.log2(e20 / e40):.1f} | {math.log2(e40 / e80):.1f}"
    return f"| {label} | {calls:.2f} | {e10:.1e} | {e30:.1e} | {orders} |"


def main() -> None:
    print(
        "| sampler | model calls / step (30 steps) | error, 10 steps | error, 30 steps "
        "| order, 20 → 40 steps | order, 40 → 80 |"
    )
    print("|---|---|---|---|---|---|")
    for name in ODE:
        print(row(name))
    for name in AT_ETA_ZERO:
        print(row(name, eta=0.0))


if __name__ == "__main__":
    main()
