"""Sigma schedules: the model's table of noise levels and every scheduler on it
(monotone, endpoints, length, the formula at known points)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from nodes.ops.sampling.beta_distribution import beta_cdf, beta_ppf
from nodes.ops.sampling.schedules import (
    SCHEDULERS,
    DiscreteSchedule,
    FlowSchedule,
    get_sigmas_beta,
    get_sigmas_ddim_uniform,
    get_sigmas_exponential,
    get_sigmas_karras,
    get_sigmas_kl_optimal,
    get_sigmas_linear_quadratic,
    get_sigmas_normal,
    get_sigmas_sgm_uniform,
    get_sigmas_simple,
)

SIGMA_MIN, SIGMA_MAX = 0.0292, 14.6146  # SD's scaled_linear range
SD = DiscreteSchedule()


def _check_shape(sigmas: Tensor, steps: int) -> None:
    assert sigmas.dtype == torch.float32
    assert sigmas.shape == (steps + 1,)
    assert float(sigmas[-1]) == 0.0
    assert (sigmas[:-1] > 0).all()
    assert (sigmas.diff() < 0).all()


@pytest.mark.parametrize("steps", [1, 2, 7, 30])
def test_karras_and_exponential(steps: int) -> None:
    for sigmas in (
        get_sigmas_karras(steps, SIGMA_MIN, SIGMA_MAX),
        get_sigmas_exponential(steps, SIGMA_MIN, SIGMA_MAX),
    ):
        _check_shape(sigmas, steps)
        assert float(sigmas[0]) == pytest.approx(SIGMA_MAX)
        if steps > 1:
            assert float(sigmas[-2]) == pytest.approx(SIGMA_MIN)
    karras = get_sigmas_karras(steps, SIGMA_MIN, SIGMA_MAX, rho=7.0)[:-1].double()
    exponential = get_sigmas_exponential(steps, SIGMA_MIN, SIGMA_MAX)[:-1].double()
    if steps > 2:  # evenly spaced in sigma ** (1 / rho) and in log(sigma)
        for gaps in ((karras ** (1 / 7)).diff(), exponential.log().diff()):
            assert torch.allclose(gaps, gaps[0].expand_as(gaps), rtol=1e-4)


def test_sd_discrete_schedule() -> None:
    assert SD.sigmas.dtype == torch.float32 and SD.sigmas.shape == (1000,)
    assert (SD.sigmas.diff() > 0).all()
    assert SD.sigma_min == pytest.approx(0.0292, abs=1e-4)
    assert SD.sigma_max == pytest.approx(14.6146, abs=1e-3)


def test_linear_beta_schedule() -> None:
    schedule = DiscreteSchedule(beta_start=0.0001, beta_end=0.02, beta_schedule="linear")
    alphas_cumprod = torch.cumprod(1 - torch.linspace(0.0001, 0.02, 1000, dtype=torch.float64), 0)
    expected = ((1 - alphas_cumprod) / alphas_cumprod).sqrt().float()
    torch.testing.assert_close(schedule.sigmas, expected)
    with pytest.raises(ValueError, match="beta_schedule"):
        DiscreteSchedule(beta_schedule="cosine")


def test_sigma_and_t_round_trip() -> None:
    t = torch.rand(500, generator=torch.Generator().manual_seed(0)) * 999
    torch.testing.assert_close(SD.sigma_to_t(SD.t_to_sigma(t)), t, atol=2e-3, rtol=0)
    whole = torch.arange(1000, dtype=torch.float32)
    torch.testing.assert_close(SD.t_to_sigma(whole), SD.sigmas)
    torch.testing.assert_close(SD.sigma_to_t(SD.sigmas), whole, atol=1e-3, rtol=0)
    grid = SD.sigmas[torch.tensor([[10, 20], [30, 40]])]
    assert SD.sigma_to_t(grid).shape == (2, 2)
    ends = SD.sigma_to_t(torch.tensor([0.0, 1e-3, 100.0]))
    assert ends.tolist() == [0.0, 0.0, 999.0]


@pytest.mark.parametrize("steps", [1, 2, 3, 7, 20, 50])
@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_every_schedule_descends_to_zero(scheduler: str, steps: int) -> None:
    sigmas = SCHEDULERS[scheduler](SD, steps)
    _check_shape(sigmas, steps)
    assert float(sigmas[0]) <= SD.sigma_max * (1 + 1e-6)
    assert float(sigmas[-2]) >= SD.sigma_min * (1 - 1e-6)


def test_schedule_specifics() -> None:
    normal = get_sigmas_normal(SD, 10)
    assert float(normal[0]) == pytest.approx(SD.sigma_max)
    assert float(normal[-2]) == pytest.approx(SD.sigma_min)
    sgm = get_sigmas_sgm_uniform(SD, 10)
    torch.testing.assert_close(sgm[:-1], SD.t_to_sigma(torch.linspace(999, 0, 11)[:-1]))
    assert float(sgm[-2]) > float(normal[-2])
    simple = get_sigmas_simple(SD, 4)
    torch.testing.assert_close(simple[:-1], SD.sigmas[[999, 749, 499, 249]])
    ddim = get_sigmas_ddim_uniform(SD, 4)
    torch.testing.assert_close(ddim[:-1], SD.sigmas[[751, 501, 251, 1]])
    ddim = get_sigmas_ddim_uniform(SD, 7)  # c = 142: timesteps 1, 143, ..., 853
    torch.testing.assert_close(ddim[:-1], SD.sigmas[[1 + 142 * k for k in range(6, -1, -1)]])
    for schedule in (get_sigmas_normal, get_sigmas_simple, get_sigmas_ddim_uniform):
        with pytest.raises(ValueError):
            schedule(SD, 0)


# --- the schedulers added for ComfyUI's names ------------------------------------------------


def test_beta_cdf_matches_closed_forms() -> None:
    x = np.linspace(0.0, 1.0, 21)
    np.testing.assert_allclose(beta_cdf(x, 1.0, 1.0), x, atol=1e-12)
    np.testing.assert_allclose(beta_cdf(x, 2.0, 1.0), x**2, atol=1e-12)
    np.testing.assert_allclose(beta_cdf(x, 2.0, 2.0), 3 * x**2 - 2 * x**3, atol=1e-6)
    arcsine = 2 / np.pi * np.arcsin(np.sqrt(x))  # Beta(1/2, 1/2)
    np.testing.assert_allclose(beta_cdf(x, 0.5, 0.5), arcsine, atol=1e-12)
    assert float(beta_cdf(0.5, 0.6, 0.6)) == pytest.approx(0.5, abs=1e-9)


def test_beta_ppf_inverts_the_cdf() -> None:
    q = np.linspace(0.0, 1.0, 101)
    x = beta_ppf(q, 0.6, 0.6)
    np.testing.assert_allclose(beta_cdf(x, 0.6, 0.6), q, atol=1e-9)
    assert x[0] == 0.0 and x[-1] == 1.0
    np.testing.assert_allclose(x + x[::-1], 1.0, atol=1e-9)  # symmetric when alpha = beta
    with pytest.raises(ValueError, match="above 0"):
        beta_ppf(q, 0.0, 0.6)


def test_beta_schedule_takes_the_table_at_the_beta_quantiles() -> None:
    sigmas = get_sigmas_beta(SD, 10)
    t = np.rint(beta_ppf(1.0 - np.arange(10) / 10, 0.6, 0.6) * 999).astype(int)
    assert t[0] == 999 and t[5] == 500  # the median of a symmetric Beta is 1/2
    torch.testing.assert_close(sigmas[:-1], SD.sigmas[t.tolist()])
    # Beta(1, 1) is uniform: timesteps 999 (1 - k/n), rounded
    uniform = get_sigmas_beta(SD, 4, alpha=1.0, beta=1.0)
    torch.testing.assert_close(uniform[:-1], SD.sigmas[[999, 749, 500, 250]])


def test_beta_schedule_is_denser_at_both_ends_than_in_the_middle() -> None:
    t = SD.sigma_to_t(get_sigmas_beta(SD, 20)[:-1])
    gaps = -t.diff()
    assert gaps[0] < gaps[9] and gaps[-1] < gaps[9]


def test_beta_schedule_keeps_a_rounded_timestep_once() -> None:
    sigmas = get_sigmas_beta(SD, 1500)
    assert len(sigmas) < 1501
    assert (sigmas[:-1].diff() < 0).all()


def test_linear_quadratic_schedule_at_known_points() -> None:
    sigmas = get_sigmas_linear_quadratic(10, SIGMA_MAX)
    # The first half lowers sigma by threshold / 5 of sigma_max a step, down to 0.975.
    expected_linear = [SIGMA_MAX * (1 - 0.025 * k / 5) for k in range(6)]
    torch.testing.assert_close(sigmas[:6].double(), torch.tensor(expected_linear).double())
    # Then a quadratic continuing that line (same slope at step 5) reaches 0 at step 10.
    assert float(sigmas[-1]) == 0.0
    removed = 1.0 - sigmas.double() / SIGMA_MAX
    second = removed.diff().diff()[5:]
    torch.testing.assert_close(second, second[0].expand_as(second), rtol=1e-4, atol=1e-6)
    assert float(removed[6] - removed[5]) > 0.005  # speeding up
    assert get_sigmas_linear_quadratic(1, 1.0).tolist() == [1.0, 0.0]


def test_linear_quadratic_schedule_on_a_flow_model_starts_at_1() -> None:
    sigmas = SCHEDULERS["linear_quadratic"](FlowSchedule(1.15, "exponential"), 8)
    assert float(sigmas[0]) == pytest.approx(1.0)
    assert float(sigmas[4]) == pytest.approx(0.975)


def test_kl_optimal_schedule_is_evenly_spaced_in_arctan() -> None:
    sigmas = get_sigmas_kl_optimal(7, SIGMA_MIN, SIGMA_MAX)
    assert float(sigmas[0]) == pytest.approx(SIGMA_MAX)
    assert float(sigmas[-2]) == pytest.approx(SIGMA_MIN)
    gaps = sigmas[:-1].double().atan().diff()
    torch.testing.assert_close(gaps, gaps[0].expand_as(gaps))
    middle = math.tan((math.atan(SIGMA_MAX) + math.atan(SIGMA_MIN)) / 2)
    assert float(sigmas[3]) == pytest.approx(middle, rel=1e-6)
    assert get_sigmas_kl_optimal(1, SIGMA_MIN, SIGMA_MAX).tolist() == pytest.approx([SIGMA_MAX, 0])
