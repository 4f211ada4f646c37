"""Sigma schedules: the model's table of noise levels, and the schedulers that pick a run's
steps from it.

A DDPM with cumulative alphas `ac[t]` (SD 1.x/2.x/XL) is the same model as a denoiser of
`x0 + sigma * noise` with sigma[t] = sqrt((1 - ac[t]) / ac[t]) (`DiscreteSchedule`). A
rectified-flow model (Flux) mixes `(1 - sigma) * x0 + sigma * noise` and its sigma is its
time, shifted toward noise for large images (`FlowSchedule`). Both give a table ascending
with t and the same conversions, so every scheduler works on both. Every scheduler returns
n + 1 sigmas as a float32 tensor: descending, ending in 0 (the last step lands on the data).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from nodes.ops.sampling.beta_distribution import beta_ppf

__all__ = [
    "SCHEDULERS",
    "DiscreteSchedule",
    "FlowSchedule",
    "Schedule",
    "get_sigmas_beta",
    "get_sigmas_ddim_uniform",
    "get_sigmas_exponential",
    "get_sigmas_karras",
    "get_sigmas_kl_optimal",
    "get_sigmas_linear_quadratic",
    "get_sigmas_normal",
    "get_sigmas_sgm_uniform",
    "get_sigmas_simple",
]


class SigmaTable:
    """A model's sigmas at t = 0 .. num_timesteps - 1, ascending."""

    sigmas: Tensor

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])


class DiscreteSchedule(SigmaTable):
    """The table of sigmas of a discrete-time model, ascending with the timestep t.

    `sigma_to_t` and `t_to_sigma` interpolate linearly in log-sigma between table entries,
    so a continuous t in [0, num_timesteps - 1] maps to a sigma in [sigma_min, sigma_max].
    """

    def __init__(
        self,
        beta_start: float = 0.00085,
        beta_end: float = 0.012,
        num_timesteps: int = 1000,
        beta_schedule: str = "scaled_linear",
    ) -> None:
        if num_timesteps < 2:
            raise ValueError(f"num_timesteps must be at least 2, not {num_timesteps}")
        if beta_schedule == "scaled_linear":
            root = torch.linspace(
                math.sqrt(beta_start), math.sqrt(beta_end), num_timesteps, dtype=torch.float64
            )
            betas = root**2
        elif beta_schedule == "linear":
            betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
        else:
            raise ValueError(f"unknown beta_schedule {beta_schedule!r} (scaled_linear, linear)")
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = ((1.0 - alphas_cumprod) / alphas_cumprod).sqrt()
        self.num_timesteps = num_timesteps
        self.alphas_cumprod: Tensor = alphas_cumprod.to(torch.float32)
        self.sigmas: Tensor = sigmas.to(torch.float32)
        self.log_sigmas: Tensor = sigmas.log().to(torch.float32)
        self._tables: dict[torch.device, Tensor] = {}

    def _table(self, device: torch.device) -> Tensor:
        """log_sigmas on `device`, copied there once: the UNet call converts sigma every
        step, and a copy from the host would wait for the device each time."""
        if device not in self._tables:
            self._tables[device] = self.log_sigmas.to(device)
        return self._tables[device]

    def sigma_to_t(self, sigma: Tensor) -> Tensor:
        """Continuous timestep of each sigma (clamped to the table's range; 0 maps to t=0)."""
        table = self._table(sigma.device)
        log_sigma = sigma.to(device=sigma.device, dtype=torch.float32).log().reshape(-1)
        high = torch.searchsorted(table, log_sigma).clamp(1, self.num_timesteps - 1)
        low = high - 1
        weight = (log_sigma - table[low]) / (table[high] - table[low])
        t = low.to(torch.float32) + weight.clamp(0.0, 1.0)
        return t.reshape(sigma.shape)

    def t_to_sigma(self, t: Tensor) -> Tensor:
        """Sigma at each continuous timestep (clamped to [0, num_timesteps - 1])."""
        table = self._table(t.device)
        t = t.to(torch.float32).clamp(0.0, self.num_timesteps - 1)
        low = t.floor().long()
        high = t.ceil().long()
        weight = t - low.to(torch.float32)
        return ((1.0 - weight) * table[low] + weight * table[high]).exp()


class FlowSchedule(SigmaTable):
    """The sigmas of a rectified-flow model at t = 0 .. num_timesteps - 1: the time
    s = (t + 1) / num_timesteps, shifted toward noise by `shift`:

    - "exponential" (Flux): sigma = e^mu / (e^mu + 1/s - 1), mu = `shift` (Flux dev: 1.15;
      ModelSamplingFlux sets it from the image size);
    - "linear" (SD3's form): sigma = k s / (1 + (k - 1) s), k = `shift` (1: no shift; schnell).
    """

    def __init__(self, shift: float = 1.0, kind: str = "linear", num_timesteps: int = 1000) -> None:
        if kind not in ("exponential", "linear"):
            raise ValueError(f"unknown flow shift {kind!r} (exponential, linear)")
        if kind == "linear" and shift <= 0:
            raise ValueError(f"a linear flow shift must be above 0, not {shift}")
        self.shift, self.kind, self.num_timesteps = float(shift), kind, num_timesteps
        s = torch.arange(1, num_timesteps + 1, dtype=torch.float64) / num_timesteps
        self.sigmas: Tensor = self._shifted(s).to(torch.float32)
        self.log_sigmas: Tensor = self.sigmas.log()

    def _shifted(self, s: Tensor) -> Tensor:
        if self.kind == "exponential":
            e = math.exp(self.shift)
            return e / (e + (1.0 / s - 1.0))
        return self.shift * s / (1.0 + (self.shift - 1.0) * s)

    def _unshifted(self, sigma: Tensor) -> Tensor:
        if self.kind == "exponential":
            return 1.0 / (1.0 + math.exp(self.shift) * (1.0 / sigma - 1.0))
        return sigma / (self.shift - (self.shift - 1.0) * sigma)

    def sigma_to_t(self, sigma: Tensor) -> Tensor:
        """Continuous timestep of each sigma (clamped to [0, num_timesteps - 1])."""
        s = self._unshifted(sigma.to(torch.float64).clamp(1e-12, 1.0))
        t = (s * self.num_timesteps - 1.0).clamp(0.0, self.num_timesteps - 1)
        return t.to(torch.float32)

    def t_to_sigma(self, t: Tensor) -> Tensor:
        """Sigma at each continuous timestep (clamped to [0, num_timesteps - 1])."""
        t = t.to(torch.float64).clamp(0.0, self.num_timesteps - 1)
        return self._shifted((t + 1.0) / self.num_timesteps).to(torch.float32)


Schedule = DiscreteSchedule | FlowSchedule


def schedule_from(config: dict[str, object]) -> Schedule:
    """The schedule a model's config names: {"kind": "flow", "shift": ..., "shift_kind": ...}
    or a DDPM's betas (the default)."""
    settings = dict(config)
    if settings.pop("kind", "discrete") == "flow":
        shift = float(settings.get("shift", 1.0))  # type: ignore[arg-type]
        return FlowSchedule(shift, str(settings.get("shift_kind", "linear")))
    return DiscreteSchedule(**settings)  # type: ignore[arg-type]


def _check_steps(n: int) -> None:
    if n < 1:
        raise ValueError(f"a schedule needs at least one step, not {n}")


def _append_zero(sigmas: Tensor) -> Tensor:
    sigmas = sigmas.to(torch.float32)
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def get_sigmas_karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """Karras et al. 2022 (arXiv:2206.00364, eq. 5): evenly spaced in sigma ** (1 / rho)."""
    _check_steps(n)
    ramp = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho)


def get_sigmas_exponential(n: int, sigma_min: float, sigma_max: float) -> Tensor:
    """Evenly spaced in log-sigma from sigma_max down to sigma_min."""
    _check_steps(n)
    log_sigmas = torch.linspace(math.log(sigma_max), math.log(sigma_min), n, dtype=torch.float64)
    return _append_zero(log_sigmas.exp())


def get_sigmas_normal(schedule: Schedule, n: int) -> Tensor:
    """n timesteps evenly spaced in continuous t from t_max down to 0."""
    _check_steps(n)
    t = torch.linspace(schedule.num_timesteps - 1, 0.0, n)
    return _append_zero(schedule.t_to_sigma(t))


def get_sigmas_sgm_uniform(schedule: Schedule, n: int) -> Tensor:
    """As SGM (SDXL) spaces them: n + 1 timesteps from t_max to 0, the one at t=0 dropped."""
    _check_steps(n)
    t = torch.linspace(schedule.num_timesteps - 1, 0.0, n + 1)[:-1]
    return _append_zero(schedule.t_to_sigma(t))


def get_sigmas_simple(schedule: Schedule, n: int) -> Tensor:
    """Every (num_timesteps / n)-th sigma of the table, counted from the top."""
    _check_steps(n)
    stride = schedule.num_timesteps / n
    index = [schedule.num_timesteps - 1 - int(k * stride) for k in range(n)]
    return _append_zero(schedule.sigmas[index])


def get_sigmas_ddim_uniform(schedule: Schedule, n: int) -> Tensor:
    """DDIM's uniform stride (Song et al. 2021): timesteps 1, 1 + c, ..., c = T // n, reversed.

    Exactly n timesteps are kept (DDIM's own range can give one more when c does not divide
    T); past n = T - 1 the stride stays 1 and fewer than n steps come back.
    """
    _check_steps(n)
    stride = max(1, schedule.num_timesteps // n)
    index = [1 + k * stride for k in range(n) if 1 + k * stride < schedule.num_timesteps]
    return _append_zero(schedule.sigmas[index[::-1]])


def get_sigmas_beta(schedule: Schedule, n: int, alpha: float = 0.6, beta: float = 0.6) -> Tensor:
    """Timesteps at the quantiles 1, 1 - 1/n, ..., 1/n of a Beta(alpha, beta) distribution,
    rounded to the table (Lee et al. 2024, arXiv:2407.12173). alpha = beta < 1 puts more
    steps at both ends. A timestep repeated by the rounding is kept once, so past a few
    hundred steps fewer than n come back.
    """
    _check_steps(n)
    last = schedule.num_timesteps - 1
    quantiles = 1.0 - np.arange(n, dtype=np.float64) / n
    timesteps = np.rint(beta_ppf(quantiles, alpha, beta) * last).astype(np.int64).tolist()
    kept = [t for k, t in enumerate(timesteps) if k == 0 or t != timesteps[k - 1]]
    return _append_zero(schedule.sigmas[kept])


def get_sigmas_linear_quadratic(
    n: int, sigma_max: float, threshold_noise: float = 0.025, linear_steps: int | None = None
) -> Tensor:
    """Mochi's schedule (Genmo 2024), as a fraction of sigma_max: the first `linear_steps`
    (half by default) remove noise linearly down to 1 - threshold_noise, the rest follow the
    quadratic that continues that line smoothly and reaches 0 at step n."""
    _check_steps(n)
    if n == 1:
        return _append_zero(torch.tensor([sigma_max], dtype=torch.float64))
    linear = n // 2 if linear_steps is None else linear_steps
    if not 0 < linear < n:
        raise ValueError(f"linear_steps must be from 1 to {n - 1}, not {linear}")
    slope = threshold_noise / linear
    rest = n - linear
    # q(i) = threshold + slope (i - linear) + curve (i - linear)^2, with q(n) = 1
    curve = (1.0 - threshold_noise - slope * rest) / rest**2
    i = torch.arange(n + 1, dtype=torch.float64)
    past = i - linear
    removed = torch.where(i < linear, i * slope, threshold_noise + slope * past + curve * past**2)
    return ((1.0 - removed) * sigma_max).to(torch.float32)


def get_sigmas_kl_optimal(n: int, sigma_min: float, sigma_max: float) -> Tensor:
    """Evenly spaced in arctan(sigma) from sigma_max down to sigma_min: the KL-optimal
    schedule of ComfyUI and A1111 (stable-diffusion-webui PR 15608)."""
    _check_steps(n)
    ramp = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    angles = (1.0 - ramp) * math.atan(sigma_max) + ramp * math.atan(sigma_min)
    return _append_zero(angles.tan())


def _karras(schedule: Schedule, n: int) -> Tensor:
    return get_sigmas_karras(n, schedule.sigma_min, schedule.sigma_max)


def _exponential(schedule: Schedule, n: int) -> Tensor:
    return get_sigmas_exponential(n, schedule.sigma_min, schedule.sigma_max)


def _linear_quadratic(schedule: Schedule, n: int) -> Tensor:
    return get_sigmas_linear_quadratic(n, schedule.sigma_max)


def _kl_optimal(schedule: Schedule, n: int) -> Tensor:
    return get_sigmas_kl_optimal(n, schedule.sigma_min, schedule.sigma_max)


# Every name in ComfyUI's SCHEDULER_NAMES.
SCHEDULERS: dict[str, Callable[[Schedule, int], Tensor]] = {
    "normal": get_sigmas_normal,
    "karras": _karras,
    "exponential": _exponential,
    "sgm_uniform": get_sigmas_sgm_uniform,
    "simple": get_sigmas_simple,
    "ddim_uniform": get_sigmas_ddim_uniform,
    "beta": get_sigmas_beta,
    "linear_quadratic": _linear_quadratic,
    "kl_optimal": _kl_optimal,
}
