"""Samplers and sigma schedules against an analytic model: data ~ N(MU, S^2) elementwise.

Its exact denoiser is D(x, sigma) = MU + S^2 / (S^2 + sigma^2) * (x - MU), and the
probability-flow ODE carries x from sigma_a to sigma_b as
MU + (x - MU) * sqrt(S^2 + sigma_b^2) / sqrt(S^2 + sigma_a^2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from nodes.ops.sampling.samplers import SAMPLERS
from nodes.ops.sampling.samplers.steps import lms_coefficients
from nodes.ops.sampling.schedules import (
    SCHEDULERS,
    DiscreteSchedule,
    get_sigmas_karras,
)

MU, S = 0.5, 0.8
SIGMA_MIN, SIGMA_MAX = 0.0292, 14.6146  # SD's scaled_linear range

ODE_SAMPLERS = ["euler", "heun", "dpm_2", "lms", "dpmpp_2m", "ddim", "uni_pc"]
ODE_SAMPLERS += ["uni_pc_bh2", "heunpp2", "ipndm", "ipndm_v", "deis", "res_multistep"]
# Without a recorded unconditional estimate (a plain model), CFG++ is the plain sampler.
ODE_SAMPLERS += ["euler_cfg_pp", "dpmpp_2m_cfg_pp", "res_multistep_cfg_pp"]
ODE_SAMPLERS += ["gradient_estimation", "gradient_estimation_cfg_pp", "exp_heun_2_x0"]
STOCHASTIC = ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde"]
STOCHASTIC += ["dpmpp_2m_sde", "lcm", "ddpm", "dpmpp_3m_sde", "res_multistep_ancestral"]
STOCHASTIC += ["dpmpp_sde_gpu", "dpmpp_2m_sde_gpu", "dpmpp_3m_sde_gpu"]
STOCHASTIC += ["dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu"]
STOCHASTIC += ["seeds_2", "seeds_3", "exp_heun_2_x0_sde", "er_sde"]
STOCHASTIC += ["euler_ancestral_cfg_pp", "dpmpp_2s_ancestral_cfg_pp"]
STOCHASTIC += ["res_multistep_ancestral_cfg_pp"]


def _per_item(sigma: Tensor, x: Tensor) -> Tensor:
    assert sigma.shape == (x.shape[0],)
    return sigma.to(x.dtype).reshape(-1, *[1] * (x.dim() - 1))


def denoiser(x: Tensor, sigma: Tensor) -> Tensor:
    """The exact posterior mean E[x0 | x] of the Gaussian data."""
    s = _per_item(sigma, x)
    return MU + S**2 / (S**2 + s**2) * (x - MU)


def flow_map(x: Tensor, sigma: Tensor) -> Tensor:
    """The exact consistency function (the ODE's map to sigma 0), what an LCM learns."""
    s = _per_item(sigma, x)
    return MU + S / torch.sqrt(S**2 + s**2) * (x - MU)


def ode_solution(x: Tensor, sigma_from: float, sigma_to: float) -> Tensor:
    return MU + (x - MU) * math.sqrt(S**2 + sigma_to**2) / math.sqrt(S**2 + sigma_from**2)


def seeded(seed: int, shape: torch.Size) -> Callable[[Tensor, Tensor], Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return lambda sigma, sigma_next: torch.randn(shape, generator=generator)


def ode_error(name: str, steps: int, *, to_zero: bool = True, **options: Any) -> float:
    """Largest error against the exact ODE solution, relative to the largest |x_end - MU|."""
    sigmas = get_sigmas_karras(steps, SIGMA_MIN, SIGMA_MAX)
    if not to_zero:
        sigmas = sigmas[:-1]
    first, last = float(sigmas[0]), float(sigmas[-1])
    noise = torch.randn(16, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = MU + first * noise
    exact = ode_solution(x, first, last)
    out = SAMPLERS[name](denoiser, x, sigmas, **options)
    return float((out - exact).abs().max() / (exact - MU).abs().max())


# --- samplers: accuracy ----------------------------------------------------------------

FIRST_ORDER = ["euler", "ddim", "euler_cfg_pp", "heunpp2"]
FIRST_ORDER += ["gradient_estimation", "gradient_estimation_cfg_pp"]
ODE_BOUND_30 = dict.fromkeys(FIRST_ORDER, 0.08)  # the others: 0.01


@pytest.mark.parametrize("name", ODE_SAMPLERS)
def test_deterministic_samplers_land_on_the_ode_solution(name: str) -> None:
    assert ode_error(name, 30) < ODE_BOUND_30.get(name, 0.01)


HIGHER_ORDER = ["heun", "dpm_2", "lms", "dpmpp_2m", "uni_pc", "ipndm", "ipndm_v", "deis"]
HIGHER_ORDER += ["res_multistep", "dpmpp_2m_cfg_pp", "res_multistep_cfg_pp"]


@pytest.mark.parametrize("name", HIGHER_ORDER)
def test_higher_order_samplers_beat_euler(name: str) -> None:
    assert ode_error(name, 30) * 5 < ode_error("euler", 30)
    assert ode_error(name, 10) < ode_error("euler", 10)


def test_ddim_is_euler() -> None:
    assert ode_error("ddim", 12) == pytest.approx(ode_error("euler", 12), rel=1e-9)


def _order(name: str) -> float:
    """Observed order of convergence from 20 to 40 steps, stopping at sigma_min so that the
    jump to 0 (first order in every sampler) does not hide it."""
    return math.log2(ode_error(name, 20, to_zero=False) / ode_error(name, 40, to_zero=False))


def test_euler_converges_at_first_order() -> None:
    assert 0.85 < _order("euler") < 1.15
    # and to sigma 0: doubling the steps halves the error
    assert 1.7 < ode_error("euler", 15) / ode_error("euler", 30) < 2.3


@pytest.mark.parametrize(
    ("name", "least"),
    [
        ("heun", 1.8),
        ("dpm_2", 1.8),
        ("dpmpp_2m", 1.8),
        ("lms", 2.5),
        ("ipndm", 1.8),
        ("deis", 2.5),
        ("res_multistep", 1.8),
        ("exp_heun_2_x0", 1.8),
    ],
)
def test_higher_order_samplers_converge_faster(name: str, least: float) -> None:
    assert _order(name) > least


@pytest.mark.parametrize("name", ["uni_pc", "uni_pc_bh2"])
def test_uni_pc_converges_at_third_order(name: str) -> None:
    assert _order(name) > 2.5


@pytest.mark.parametrize(
    ("name", "same_as"),
    [
        ("euler_ancestral", "euler"),
        ("dpm_2_ancestral", "dpm_2"),
        ("dpmpp_2m_sde", "dpmpp_2m"),
        ("dpmpp_sde", "dpmpp_2s_ancestral"),
        ("dpmpp_3m_sde", "dpmpp_3m_sde"),
        ("dpmpp_2m_sde_heun", "res_multistep"),
        ("seeds_2", "dpmpp_2s_ancestral"),
        ("seeds_3", "seeds_3"),
        ("exp_heun_2_x0_sde", "exp_heun_2_x0"),
        ("res_multistep_ancestral", "res_multistep"),
        ("euler_ancestral_cfg_pp", "euler"),
        ("dpmpp_2s_ancestral_cfg_pp", "dpmpp_2s_ancestral"),
        ("res_multistep_ancestral_cfg_pp", "res_multistep"),
    ],
)
def test_eta_zero_is_the_ode_sampler_and_draws_no_noise(name: str, same_as: str) -> None:
    def no_noise(sigma: Tensor, sigma_next: Tensor) -> Tensor:
        raise AssertionError("eta=0 drew noise")

    options: dict[str, Any] = {"eta": 0.0, "noise_sampler": no_noise}
    other: dict[str, Any] = {"eta": 0.0} if same_as in STOCHASTIC else {}
    error = ode_error(name, 30, **options)
    assert error == pytest.approx(ode_error(same_as, 30, **other), rel=1e-6, abs=1e-12)
    assert error < ODE_BOUND_30.get(same_as, 0.01)


# --- samplers: distributions -----------------------------------------------------------

FIRST_ORDER_ANCESTRAL = ["euler_ancestral", "ddpm", "euler_ancestral_cfg_pp"]
STOCHASTIC_STEPS = {"lcm": 4} | dict.fromkeys(FIRST_ORDER_ANCESTRAL, 100)  # the others: 50


@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_samplers_sample_the_data_distribution(name: str) -> None:
    steps = STOCHASTIC_STEPS.get(name, 50)
    sigmas = get_sigmas_karras(steps, SIGMA_MIN, SIGMA_MAX)
    shape = torch.Size([64, 1, 32, 32])
    start = torch.randn(shape, generator=torch.Generator().manual_seed(7))
    x = MU + math.sqrt(S**2 + float(sigmas[0]) ** 2) * start  # exact marginal at sigma_max
    model = flow_map if name == "lcm" else denoiser
    out = SAMPLERS[name](model, x, sigmas, noise_sampler=seeded(8, shape))
    assert abs(float(out.mean()) - MU) < 0.02
    assert abs(float(out.std()) / S - 1.0) < 0.05


def test_lcm_one_step_is_the_model_output() -> None:
    x = torch.randn(3, 2) * SIGMA_MAX
    sigmas = torch.tensor([SIGMA_MAX, 0.0])
    expected = flow_map(x, torch.full([3], SIGMA_MAX))
    torch.testing.assert_close(SAMPLERS["lcm"](flow_map, x, sigmas), expected)


# --- samplers: contract ----------------------------------------------------------------


def test_registry_names() -> None:
    assert set(SAMPLERS) == {
        "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
        "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
        "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde",
        "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde",
        "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis", "res_multistep",
        "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp",
        "gradient_estimation", "gradient_estimation_cfg_pp", "ddim", "uni_pc", "uni_pc_bh2",
        "exp_heun_2_x0", "exp_heun_2_x0_sde", "seeds_2", "seeds_3", "er_sde",
    }  # fmt: skip
    assert set(SCHEDULERS) == {
        "normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta",
        "linear_quadratic", "kl_optimal",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_same_noise_seed_gives_identical_output(name: str) -> None:
    sigmas = get_sigmas_karras(6, SIGMA_MIN, SIGMA_MAX)
    shape = torch.Size([2, 4, 8, 8])
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1)) * SIGMA_MAX
    before = x.clone()
    runs = []
    for global_seed, noise_seed in [(10, 5), (11, 5), (12, 6)]:
        torch.manual_seed(global_seed)  # must not matter: noise comes from noise_sampler only
        runs.append(SAMPLERS[name](denoiser, x, sigmas, noise_sampler=seeded(noise_seed, shape)))
    assert torch.equal(runs[0], runs[1])
    assert torch.equal(x, before)  # the input is left alone
    assert torch.equal(runs[0], runs[2]) == (name not in STOCHASTIC)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_callback_runs_once_per_step(name: str) -> None:
    sigmas = get_sigmas_karras(7, SIGMA_MIN, SIGMA_MAX)
    x = torch.randn(2, 3) * SIGMA_MAX
    seen: list[dict[str, Any]] = []
    SAMPLERS[name](denoiser, x, sigmas, callback=seen.append)
    assert [info["i"] for info in seen] == list(range(7))
    for info in seen:
        assert float(info["sigma"]) == float(sigmas[info["i"]])
        assert float(info["sigma_next"]) == float(sigmas[info["i"] + 1])
        assert info["x"].shape == info["denoised"].shape == x.shape


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_a_raising_callback_stops_the_run(name: str) -> None:
    calls = []

    def model(x: Tensor, sigma: Tensor) -> Tensor:
        calls.append(sigma)
        return denoiser(x, sigma)

    def stop(info: dict[str, Any]) -> None:
        if info["i"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SAMPLERS[name](model, torch.randn(1, 2), get_sigmas_karras(20, 0.1, 10.0), callback=stop)
    per_step = 3 if name in ("heunpp2", "seeds_3") else 2  # model calls a step, at most
    assert len(calls) <= 2 * per_step + 1


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_extra_args_reach_the_model_and_no_graph_is_built(name: str) -> None:
    def model(x: Tensor, sigma: Tensor, *, scale: float) -> Tensor:
        assert scale == 2.0
        return denoiser(x, sigma)

    x = (torch.randn(2, 3) * SIGMA_MAX).requires_grad_()
    sigmas = get_sigmas_karras(4, SIGMA_MIN, SIGMA_MAX)
    out = SAMPLERS[name](model, x, sigmas, extra_args={"scale": 2.0})
    assert not out.requires_grad


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_a_schedule_that_stops_short_of_zero(name: str) -> None:
    sigmas = get_sigmas_karras(8, SIGMA_MIN, SIGMA_MAX)[:-3]  # as when leaving noise
    x = torch.randn(2, 3) * SIGMA_MAX
    assert torch.isfinite(SAMPLERS[name](denoiser, x, sigmas)).all()


SD = DiscreteSchedule()


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_with_every_scheduler(name: str, scheduler: str) -> None:
    for steps in (4, 1):
        sigmas = SCHEDULERS[scheduler](SD, steps)
        x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(steps))
        out = SAMPLERS[name](denoiser, x * sigmas[0], sigmas)
        assert out.shape == x.shape and out.dtype == torch.float32
        assert torch.isfinite(out).all()
        assert float(out.abs().max()) < BOUNDED.get(name, 10.0)


# Second differences of noisy estimates over 4 steps as unequal as ddim_uniform's (the last
# one from timestep 251 to 1) swing further; ComfyUI's 3M SDE does the same.
BOUNDED = dict.fromkeys(["dpmpp_3m_sde", "dpmpp_3m_sde_gpu"], 25.0)


def test_lms_coefficients_integrate_polynomials_exactly() -> None:
    sigmas = [10.0, 6.0, 3.5, 2.0, 1.1, 0.0]
    for i in range(len(sigmas) - 1):
        order = min(i + 1, 4)
        weights = lms_coefficients(sigmas, i, order)
        nodes = [sigmas[i - j] for j in range(order)]
        for power in range(order):  # exact for polynomials below the order
            integral = (sigmas[i + 1] ** (power + 1) - sigmas[i] ** (power + 1)) / (power + 1)
            estimate = sum(w * node**power for w, node in zip(weights, nodes, strict=True))
            assert estimate == pytest.approx(integral, rel=1e-9, abs=1e-12)
