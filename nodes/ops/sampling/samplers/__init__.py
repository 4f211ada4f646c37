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
`eta` (noise amount, 1 = the full stochastic step) and `s_noise` (noise scale) keywords, but
ddpm (always the full step) and er_sde (its own noise level; `s_noise` only).

The deterministic ones (ODE solvers) are in `deterministic` and `linear_multistep`, the
stochastic ones in `stochastic`, `seeds` (SEEDS, exponential Heun) and `er_sde`, RES
multistep in `res_multistep`, the CFG++ ones (which also read the guided denoiser's
unconditional estimate) in `cfg_pp`, the plumbing and step maths they share in `steps`.
`SAMPLERS` is the one table of names, ComfyUI's (the Sample nodes list the same names; a
test keeps them equal).

ComfyUI's `_gpu` names differ from the plain ones only in where its Brownian-tree noise is
drawn (on the GPU rather than the CPU): the same maths. Ours draw every sampler's noise the
same way (`noise_sampler`: per batch item from its seed, on the CPU, so a seed gives the same
picture on any device), so each `_gpu` name is the plain sampler.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from nodes.ops.sampling.samplers.cfg_pp import (
    sample_dpmpp_2m_cfg_pp,
    sample_dpmpp_2s_ancestral_cfg_pp,
    sample_euler_ancestral_cfg_pp,
    sample_euler_cfg_pp,
)
from nodes.ops.sampling.samplers.deterministic import (
    sample_ddim,
    sample_dpm_2,
    sample_dpmpp_2m,
    sample_euler,
    sample_gradient_estimation,
    sample_gradient_estimation_cfg_pp,
    sample_heun,
    sample_heunpp2,
    sample_lms,
    sample_uni_pc,
    sample_uni_pc_bh2,
)
from nodes.ops.sampling.samplers.er_sde import sample_er_sde
from nodes.ops.sampling.samplers.linear_multistep import sample_deis, sample_ipndm, sample_ipndm_v
from nodes.ops.sampling.samplers.res_multistep import (
    sample_res_multistep,
    sample_res_multistep_ancestral,
    sample_res_multistep_ancestral_cfg_pp,
    sample_res_multistep_cfg_pp,
)
from nodes.ops.sampling.samplers.seeds import (
    sample_exp_heun_2_x0,
    sample_exp_heun_2_x0_sde,
    sample_seeds_2,
    sample_seeds_3,
)
from nodes.ops.sampling.samplers.stochastic import (
    sample_ddpm,
    sample_dpm_2_ancestral,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2m_sde_heun,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_3m_sde,
    sample_dpmpp_sde,
    sample_euler_ancestral,
    sample_lcm,
)

Sampler = Callable[..., Tensor]

SAMPLERS: dict[str, Sampler] = {
    "euler": sample_euler,
    "euler_cfg_pp": sample_euler_cfg_pp,
    "euler_ancestral": sample_euler_ancestral,
    "euler_ancestral_cfg_pp": sample_euler_ancestral_cfg_pp,
    "heun": sample_heun,
    "heunpp2": sample_heunpp2,
    "exp_heun_2_x0": sample_exp_heun_2_x0,
    "exp_heun_2_x0_sde": sample_exp_heun_2_x0_sde,
    "dpm_2": sample_dpm_2,
    "dpm_2_ancestral": sample_dpm_2_ancestral,
    "lms": sample_lms,
    "dpmpp_2s_ancestral": sample_dpmpp_2s_ancestral,
    "dpmpp_2s_ancestral_cfg_pp": sample_dpmpp_2s_ancestral_cfg_pp,
    "dpmpp_sde": sample_dpmpp_sde,
    "dpmpp_sde_gpu": sample_dpmpp_sde,
    "dpmpp_2m": sample_dpmpp_2m,
    "dpmpp_2m_cfg_pp": sample_dpmpp_2m_cfg_pp,
    "dpmpp_2m_sde": sample_dpmpp_2m_sde,
    "dpmpp_2m_sde_gpu": sample_dpmpp_2m_sde,
    "dpmpp_2m_sde_heun": sample_dpmpp_2m_sde_heun,
    "dpmpp_2m_sde_heun_gpu": sample_dpmpp_2m_sde_heun,
    "dpmpp_3m_sde": sample_dpmpp_3m_sde,
    "dpmpp_3m_sde_gpu": sample_dpmpp_3m_sde,
    "ddpm": sample_ddpm,
    "lcm": sample_lcm,
    "ipndm": sample_ipndm,
    "ipndm_v": sample_ipndm_v,
    "deis": sample_deis,
    "res_multistep": sample_res_multistep,
    "res_multistep_cfg_pp": sample_res_multistep_cfg_pp,
    "res_multistep_ancestral": sample_res_multistep_ancestral,
    "res_multistep_ancestral_cfg_pp": sample_res_multistep_ancestral_cfg_pp,
    "gradient_estimation": sample_gradient_estimation,
    "gradient_estimation_cfg_pp": sample_gradient_estimation_cfg_pp,
    "er_sde": sample_er_sde,
    "seeds_2": sample_seeds_2,
    "seeds_3": sample_seeds_3,
    "ddim": sample_ddim,
    "uni_pc": sample_uni_pc,
    "uni_pc_bh2": sample_uni_pc_bh2,
}
