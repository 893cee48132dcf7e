"""How large a difference of two dependent correlations a test could see: power by simulation.

For a comparison of predictors a and b against y at n points, the observed correlations fix the
setting: the mean of the two correlations with y (c) and the predictors' own correlation (r_ab).
Trivariate normal samples with rho_ya = c + d/2, rho_yb = c - d/2 and rho_ab = r_ab are drawn for a
grid of true differences d, Williams' t is applied to each, and the smallest d rejected in at least
``power`` of the samples is the detectable difference (docs/method.md, "Teacher-side predictors").
A null next to a detectable difference of 0.6 reads "a difference under 0.6 is not detectable at this
n", not "no difference".
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats as sps

from dastat.stats.coefficients import pearson
from dastat.stats.resampling import data_rng

GRID_STEP = 0.02  # resolution of the detectable difference
_MAX_RHO = 0.995  # the largest true correlation simulated


def williams_p(r_ya: np.ndarray, r_yb: np.ndarray, r_ab: np.ndarray, n: int) -> np.ndarray:
    """Two-sided p-values of Williams' t for arrays of correlations (as :func:`dependent.williams_t`)."""
    det = 1 - r_ya**2 - r_yb**2 - r_ab**2 + 2 * r_ya * r_yb * r_ab
    r_bar = (r_ya + r_yb) / 2
    denom = 2 * (n - 1) / (n - 3) * det + r_bar**2 * (1 - r_ab) ** 3
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (r_ya - r_yb) * np.sqrt((n - 1) * (1 + r_ab) / denom)
    return np.where(denom > 0, 2 * sps.t.sf(np.abs(t), n - 3), np.nan)


def _settings(c: float, r_ab: float, lowest: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid of differences d and, for each, the (rho_ya, rho_yb) centred on c where they fit in a valid matrix,
    moved as little as needed to keep both in [lowest, 0.995]."""
    d = np.arange(GRID_STEP, _MAX_RHO - lowest + 1e-9, GRID_STEP)
    centre = np.clip(c, lowest + d / 2, _MAX_RHO - d / 2)
    rho = np.stack([centre + d / 2, centre - d / 2], axis=1)  # [G, 2]
    det = 1 - rho[:, 0] ** 2 - rho[:, 1] ** 2 - r_ab**2 + 2 * rho[:, 0] * rho[:, 1] * r_ab
    ok = det > 1e-9
    return d[ok], rho[ok]


@lru_cache(maxsize=4096)
def _detectable(n: int, c: float, r_ab: float, alpha: float, power: float, n_sims: int, seed: int,
                lowest: float) -> float:
    d, rho = _settings(c, r_ab, lowest)
    if n <= 3 or not len(d):
        return math.nan
    rng = data_rng(seed, "power", np.array([n, c, r_ab, alpha, power, n_sims, lowest]))
    g = len(d)
    cov = np.empty((g, 3, 3))
    cov[:] = np.eye(3)
    cov[:, 0, 1] = cov[:, 1, 0] = rho[:, 0]
    cov[:, 0, 2] = cov[:, 2, 0] = rho[:, 1]
    cov[:, 1, 2] = cov[:, 2, 1] = r_ab
    chol = np.linalg.cholesky(cov)  # [G, 3, 3]
    z = rng.standard_normal((g, n_sims, n, 3)) @ np.swapaxes(chol, 1, 2)[:, None]  # [G, S, n, 3]
    y, a, b = (z[..., k].reshape(g * n_sims, n) for k in range(3))
    p = williams_p(pearson(y, a), pearson(y, b), pearson(a, b), n).reshape(g, n_sims)
    rejected = np.nanmean(p < alpha, axis=1) >= power
    # The grid point, as written to 2 decimals (np.arange leaves float error such as 0.30000000000000004).
    return round(float(d[np.argmax(rejected)]), 2) if rejected.any() else math.nan


def detectable_difference(n: int, r_a: float, r_b: float, r_ab: float, *, alpha: float, power: float = 0.8,
                          n_sims: int = 400, seed: int = 0, strength: bool = False) -> float:
    """The smallest true difference rho_ya - rho_yb that Williams' t at level ``alpha`` rejects with
    probability ``power`` at ``n`` points, simulated around the observed correlations.

    The centre (r_a + r_b) / 2 and r_ab are rounded to 0.01 and the result cached, so a report with
    many comparisons in similar settings simulates each setting once; ``n_sims`` samples per grid
    point (step :data:`GRID_STEP`) give the power to about ±0.02. NaN where no difference that
    fits a valid correlation matrix reaches ``power`` (or n <= 3, or a correlation is missing).
    With ``strength`` (a comparison of |r|, each predictor in its fitted direction) both true
    correlations stay >= 0, so that d is a difference of strengths, not one of sign.
    """
    values = (r_a, r_b, r_ab)
    if not all(map(math.isfinite, values)):
        return math.nan
    c = round((r_a + r_b) / 2, 2)
    return _detectable(int(n), c, round(float(r_ab), 2), float(alpha), float(power), int(n_sims), int(seed),
                       0.0 if strength else -_MAX_RHO)


__all__ = ["GRID_STEP", "detectable_difference", "williams_p"]
