"""What the samplers added for ComfyUI's names promise beyond accuracy (tests/sd/test_samplers.py
covers that): their weights, their relation to the samplers they build on, and CFG++ reading
the guided denoiser's unconditional estimate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from engine.types import ConditioningPart
from nodes.ops.families.registry import family_of
from nodes.ops.sampling.denoiser import GuidedDenoiser
from nodes.ops.sampling.samplers import SAMPLERS
from nodes.ops.sampling.samplers.linear_multistep import (
    ADAMS_BASHFORTH,
    deis_weights,
    ipndm_v_weights,
    ipndm_weights,
    vp_time,
)
from nodes.ops.sampling.samplers.res_multistep import res_weights
from nodes.ops.sampling.schedules import DiscreteSchedule, get_sigmas_karras
from tests.sd import tiny
from tests.sd.test_samplers import SIGMA_MAX, SIGMA_MIN, denoiser, seeded

GPU_NAMES = ["dpmpp_sde_gpu", "dpmpp_2m_sde_gpu", "dpmpp_3m_sde_gpu", "dpmpp_2m_sde_heun_gpu"]


@pytest.mark.parametrize("name", GPU_NAMES)
def test_gpu_names_are_the_same_sampler(name: str) -> None:
    sigmas = get_sigmas_karras(8, SIGMA_MIN, SIGMA_MAX)
    shape = torch.Size([2, 4, 8, 8])
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * SIGMA_MAX
    plain = SAMPLERS[name.removesuffix("_gpu")](denoiser, x, sigmas, noise_sampler=seeded(1, shape))
    gpu = SAMPLERS[name](denoiser, x, sigmas, noise_sampler=seeded(1, shape))
    assert torch.equal(plain, gpu)


def test_ddpm_is_euler_ancestral_at_eta_one() -> None:
    sigmas = get_sigmas_karras(10, SIGMA_MIN, SIGMA_MAX)
    shape = torch.Size([2, 4, 8, 8])
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * SIGMA_MAX
    ddpm = SAMPLERS["ddpm"](denoiser, x, sigmas, noise_sampler=seeded(3, shape))
    ancestral = SAMPLERS["euler_ancestral"](denoiser, x, sigmas, noise_sampler=seeded(3, shape))
    torch.testing.assert_close(ddpm, ancestral)


# --- linear multistep weights ------------------------------------------------------------


def test_ipndm_uses_adams_bashforth_weights_for_equal_steps() -> None:
    sigmas = [10.0, 7.0, 5.0, 4.0, 3.5, 0.0]
    assert ipndm_weights(sigmas, 3, 4) == pytest.approx([-0.5 * w for w in ADAMS_BASHFORTH[3]])
    assert ADAMS_BASHFORTH[3] == pytest.approx([55 / 24, -59 / 24, 37 / 24, -9 / 24])


@pytest.mark.parametrize("order", [1, 2, 3])
def test_ipndm_v_on_equal_steps_is_ipndm(order: int) -> None:
    sigmas = [8.0, 7.0, 6.0, 5.0, 4.0]
    i = 3
    assert ipndm_v_weights(sigmas, i, order) == pytest.approx(ipndm_weights(sigmas, i, order))


def _integrates_linear_slopes_exactly(sigmas: list[float], i: int, order: int) -> bool:
    weights = ipndm_v_weights(sigmas, i, order)
    nodes = [sigmas[i - k] for k in range(order)]
    for power in (0, 1):  # the integral of sigma^power over the step
        exact = (sigmas[i + 1] ** (power + 1) - sigmas[i] ** (power + 1)) / (power + 1)
        estimate = sum(w * node**power for w, node in zip(weights, nodes, strict=True))
        if estimate != pytest.approx(exact, rel=1e-9):
            return False
    return True


@pytest.mark.parametrize("order", [2, 3])
def test_ipndm_v_is_exact_for_linear_slopes_on_unequal_steps(order: int) -> None:
    assert _integrates_linear_slopes_exactly([14.0, 9.0, 6.5, 3.0, 2.2, 1.0], 4, order)


def test_ipndm_v_fourth_order_weights_hold_where_step_ratios_agree() -> None:
    # The published order-4 weights (zju-pi's diff-sampler, ComfyUI) sum to the step only
    # when successive steps shrink by one ratio (an exponential schedule; nearly so on any
    # smooth one). We keep them as published, for the same pictures as ComfyUI.
    geometric = [10.0 * 0.6**k for k in range(6)]
    assert _integrates_linear_slopes_exactly(geometric, 4, 4)
    assert not _integrates_linear_slopes_exactly([14.0, 9.0, 6.5, 3.0, 2.2, 1.0], 4, 4)


def test_vp_time_spans_deis_range() -> None:
    # DEIS's VP-SDE is fitted to EDM's sigmas: 0.002 at t = 1e-3 and 80 at t = 1.
    assert float(vp_time(0.002)) == pytest.approx(1e-3, rel=1e-6)
    assert float(vp_time(80.0)) == pytest.approx(1.0, rel=1e-9)
    assert (np.diff(vp_time(np.geomspace(0.01, 80.0, 50))) > 0).all()


@pytest.mark.parametrize("order", [2, 3, 4])
def test_deis_weights_integrate_polynomials_in_vp_time_exactly(order: int) -> None:
    sigmas = [14.6, 6.0, 2.5, 1.1, 0.4, 0.0]
    i = 3
    weights = deis_weights(sigmas, i, order)
    nodes = vp_time(np.array([sigmas[i - k] for k in range(order)]))
    # Reference: composite Simpson in sigma over the step, 20,000 intervals.
    grid = np.linspace(sigmas[i], sigmas[i + 1], 20_001)
    simpson = np.ones_like(grid)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    simpson *= (sigmas[i + 1] - sigmas[i]) / (3 * (len(grid) - 1))
    for power in range(order):  # exact below the order
        exact = float(simpson @ vp_time(grid) ** power)
        estimate = sum(w * node**power for w, node in zip(weights, nodes, strict=True))
        assert estimate == pytest.approx(exact, rel=1e-7)


def test_res_weights_make_the_exact_exponential_integral_of_a_line() -> None:
    # D(u) = a + b u in lambda (u from the current point), previous point at c2 * h: the
    # step's h * (b1 D(0) + b2 D(c2 h)) must be the integral of e^-(h-u) D(u) over [0, h].
    h, c2, a, b = 0.7, -0.6, 1.3, -0.8
    b1, b2 = res_weights(h, c2)
    exact = a * -np.expm1(-h) + b * (h - 1 + np.exp(-h))
    assert h * (b1 * a + b2 * (a + b * c2 * h)) == pytest.approx(exact, rel=1e-12)


def test_heunpp2_calls_the_model_three_times_a_step_then_two_then_one() -> None:
    calls: list[float] = []

    def model(x: Tensor, sigma: Tensor) -> Tensor:
        calls.append(float(sigma[0]))
        return denoiser(x, sigma)

    sigmas = get_sigmas_karras(5, SIGMA_MIN, SIGMA_MAX)
    SAMPLERS["heunpp2"](model, torch.randn(2, 3) * SIGMA_MAX, sigmas)
    assert len(calls) == 3 + 3 + 3 + 2 + 1


# --- CFG++ with the real guided denoiser ---------------------------------------------------


def guided(cfg: float, negative: bool = True) -> tuple[GuidedDenoiser, ConditioningPart]:
    """The tiny SD1 UNet behind the guided denoiser, a prompt and a negative."""
    config: dict[str, Any] = {"family": "sd1", "prediction_type": "epsilon", "patches": ()}
    family = family_of(config)
    base = torch.zeros(1, 4, 8, 8)
    call = family.model_call(tiny.unet("sd1"), config, DiscreteSchedule(), base, None)
    generator = torch.Generator().manual_seed(5)
    pos, neg = (ConditioningPart(torch.randn(1, 7, tiny.WIDTH, generator=generator)) for _ in "pn")
    return GuidedDenoiser(call, positive=[pos], negative=[neg] if negative else [], cfg=cfg), neg


def test_the_guided_denoiser_records_the_unconditional_estimate() -> None:
    denoiser7, negative = guided(7.0)
    x, sigma = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * 3, 3.0
    out = denoiser7(x, torch.full([1], sigma))
    assert denoiser7.last_uncond is not None
    alone, _ = guided(1.0, negative=False)
    alone.positive = [negative]
    torch.testing.assert_close(denoiser7.last_uncond, alone(x, torch.full([1], sigma)))
    assert not torch.allclose(out, denoiser7.last_uncond)


def test_without_guidance_uncond_is_the_prompt_estimate() -> None:
    for denoiser1 in (guided(1.0)[0], guided(7.0, negative=False)[0]):
        x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
        out = denoiser1(x, torch.full([1], 2.0))
        assert denoiser1.last_uncond is out


def test_euler_cfg_pp_renoises_with_the_unconditional_noise() -> None:
    denoiser7, _ = guided(7.0)
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * 4.0
    sigmas = torch.tensor([4.0, 1.5])
    seen: list[dict[str, Any]] = []
    out = SAMPLERS["euler_cfg_pp"](denoiser7, x, sigmas, callback=seen.append)
    uncond = denoiser7.last_uncond
    assert uncond is not None
    expected = seen[0]["denoised"] + 1.5 * (x - uncond) / 4.0
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, SAMPLERS["euler"](denoiser7, x, sigmas))


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("euler_cfg_pp", "euler"),
        ("dpmpp_2m_cfg_pp", "dpmpp_2m"),
        ("res_multistep_cfg_pp", "res_multistep"),
        ("euler_ancestral_cfg_pp", "euler_ancestral"),
        ("dpmpp_2s_ancestral_cfg_pp", "dpmpp_2s_ancestral"),
        ("res_multistep_ancestral_cfg_pp", "res_multistep_ancestral"),
        ("gradient_estimation_cfg_pp", "gradient_estimation"),
    ],
)
def test_cfg_pp_at_cfg_one_is_the_plain_sampler(name: str, plain: str) -> None:
    denoiser1, _ = guided(1.0)
    shape = torch.Size([1, 4, 8, 8])
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * SIGMA_MAX
    sigmas = get_sigmas_karras(4, SIGMA_MIN, SIGMA_MAX)
    ours = SAMPLERS[name](denoiser1, x, sigmas, noise_sampler=seeded(2, shape))
    theirs = SAMPLERS[plain](denoiser1, x, sigmas, noise_sampler=seeded(2, shape))
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_under_an_inpainting_mask_the_unconditional_estimate_is_limited_to_it() -> None:
    from nodes.ops.sampling.sample import _Inside

    denoiser7, _ = guided(7.0)
    base = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1.0
    inside = _Inside(mask, denoiser7, base, noise)
    x = base + 3.0 * noise
    out = inside(x, torch.full([1], 3.0))
    uncond = inside.last_uncond
    assert uncond is not None and denoiser7.last_uncond is not None
    outside = mask.expand_as(base) == 0
    assert torch.equal(uncond[outside], base[outside])  # the source, as the output is
    assert torch.equal(out[outside], base[outside])
    inner = ~outside
    assert torch.equal(uncond[inner], denoiser7.last_uncond[inner])
