"""The samplers, k-diffusion style: pure functions of a denoiser in the sigma parameterisation.

Every sampler is called as

    sample_x(model, x, sigmas, *, extra_args=None, callback=None, noise_sampler=None) -> Tensor

- `model(x, sigma_batch, **extra_args)` returns the denoised estimate of x0 (not eps), with
  `sigma_batch` of shape [batch];
- `x` is the starting noise, already scaled by sigmas[0]; `sigmas` descends, usually to 0;
- `callback({"i", "x", "sigma", "sigma_next", "denoised"})` runs once per step (it may raise
  to stop the run);
- `noise_sampler(sigma, sigma_next)` gives the fresh noise of the stochastic samplers
  (`torch.randn_like(x)` when None); no sampler draws noise any other way.

A step to sigma = 0 never divides by it or takes its log; all but LMS (which integrates its
polynomial down to 0) land there exactly on the denoised estimate. Stochastic samplers take
`eta` (noise amount, 1 = the full stochastic step) and `s_noise` (noise scale) keywords.

The deterministic ones (ODE solvers) are in `deterministic`, the stochastic ones in
`stochastic`, the plumbing and step maths they share in `steps`. `SAMPLERS` is the one
table of names (the Sample nodes list the same names; a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from nodes.ops.sampling.samplers.deterministic import (
    sample_ddim,
    sample_dpm_2,
    sample_dpmpp_2m,
    sample_euler,
    sample_heun,
    sample_lms,
    sample_uni_pc,
)
from nodes.ops.sampling.samplers.stochastic import (
    sample_dpm_2_ancestral,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_sde,
    sample_euler_ancestral,
    sample_lcm,
)

Sampler = Callable[..., Tensor]

SAMPLERS: dict[str, Sampler] = {
    "euler": sample_euler,
    "euler_ancestral": sample_euler_ancestral,
    "heun": sample_heun,
    "dpm_2": sample_dpm_2,
    "dpm_2_ancestral": sample_dpm_2_ancestral,
    "lms": sample_lms,
    "dpmpp_2m": sample_dpmpp_2m,
    "dpmpp_2m_sde": sample_dpmpp_2m_sde,
    "dpmpp_sde": sample_dpmpp_sde,
    "dpmpp_2s_ancestral": sample_dpmpp_2s_ancestral,
    "ddim": sample_ddim,
    "uni_pc": sample_uni_pc,
    "lcm": sample_lcm,
}
