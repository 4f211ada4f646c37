"""The Beta distribution's CDF and quantile function, for the beta scheduler.

SciPy is not a dependency, and the scheduler needs only a few hundred quantiles, so the CDF
is a Gauss-Legendre quadrature and the quantile a bisection on it. Accuracy is far below
the scheduler's resolution (it rounds to whole timesteps, 1/999 of the range).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)
_BISECTIONS = 60  # halves [0, 1] down to 1e-18, past float64's resolution


def _lower_integral(x: NDArray[np.float64], a: float, b: float) -> NDArray[np.float64]:
    """The integral of t^(a-1) (1-t)^(b-1) from 0 to x, for x <= 1/2.

    With t = u^(1/a) it is (1/a) times the integral of (1 - u^(1/a))^(b-1) from 0 to x^a:
    the singularity of t^(a-1) at 0 is gone, and 1 - t stays above 1/2, so the integrand is
    smooth enough for the quadrature.
    """
    top = x**a
    u = (_NODES[None, :] + 1.0) * (top[:, None] / 2.0)
    values = (1.0 - u ** (1.0 / a)) ** (b - 1.0)
    return np.asarray((values @ _WEIGHTS) * top / (2.0 * a), dtype=np.float64)


def _check(a: float, b: float) -> None:
    if a <= 0.0 or b <= 0.0:
        raise ValueError(f"a Beta distribution needs alpha and beta above 0, not {a}, {b}")


def beta_cdf(x: ArrayLike, a: float, b: float) -> NDArray[np.float64]:
    """P(X <= x) for X ~ Beta(a, b) (the regularised incomplete beta function)."""
    _check(a, b)
    points = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    flat = points.reshape(-1)
    norm = math.exp(math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    out = np.empty_like(flat)
    low = flat <= 0.5
    out[low] = _lower_integral(flat[low], a, b) / norm
    # Above 1/2, the upper tail is the lower tail of Beta(b, a) at 1 - x.
    out[~low] = 1.0 - _lower_integral(1.0 - flat[~low], b, a) / norm
    return np.clip(out, 0.0, 1.0).reshape(points.shape)


def beta_ppf(q: ArrayLike, a: float, b: float) -> NDArray[np.float64]:
    """The x with P(X <= x) = q for X ~ Beta(a, b): the inverse of `beta_cdf`."""
    _check(a, b)
    target = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)
    low, high = np.zeros_like(target), np.ones_like(target)
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2.0
        below = beta_cdf(middle, a, b) < target
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    out = (low + high) / 2.0
    # The ends exactly: a bisection never reaches them.
    return np.where(target <= 0.0, 0.0, np.where(target >= 1.0, 1.0, out))
