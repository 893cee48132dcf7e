"""Permutation p-values for a correlation: exact (all n! pairings) for small n, Monte Carlo beyond."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import rankdata

from dastat.stats.coefficients import pearson

# 9! = 362,880 pairings is still quick; 10! is ten times more for little gain over Monte Carlo.
EXACT_MAX_N = 9
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class PermutationTest:
    """A permutation p-value and how it was obtained."""

    p_value: float
    method: str  # "exact" | "monte_carlo"
    n_permutations: int


@lru_cache(maxsize=4)
def _all_permutations(n: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64)  # [n!, n]


def _null(method: str, x: np.ndarray, y: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """The coefficient of x against y[perm] for every row of perms [P, n] -> [P]."""
    if method == "pearson":
        return pearson(np.broadcast_to(x, perms.shape), y[perms])
    if method == "spearman":
        # Ranks of a permuted y are the permuted ranks of y: rank once.
        return pearson(np.broadcast_to(rankdata(x), perms.shape), rankdata(y)[perms])
    n = len(x)
    sx = np.sign(x[:, None] - x[None, :])  # [n, n]
    sy = np.sign(y[:, None] - y[None, :])
    denom = math.sqrt(float((sx * sx).sum()) * float((sy * sy).sum()))
    out = np.empty(len(perms))
    step = max(1, _CHUNK_ELEMENTS // (n * n))
    for start in range(0, len(perms), step):
        p = perms[start : start + step]
        out[start : start + step] = (sx * sy[p[:, :, None], p[:, None, :]]).sum((1, 2))
    return out / denom if denom > 0 else np.full(len(perms), np.nan)


def permutation_test(
    method: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    alternative: str = "two-sided",
    n_resamples: int = 9999,
    rng: np.random.Generator,
) -> PermutationTest:
    """p-value of the coefficient under the null that the pairing of x and y is arbitrary.

    Exact over all n! pairings when n <= 9 (``EXACT_MAX_N``); otherwise ``n_resamples`` random pairings,
    with p = (k + 1) / (n_resamples + 1) so that it is never 0. The conventions follow
    ``scipy.stats.permutation_test(..., permutation_type="pairings")``: "greater" counts null values
    >= the observed one (with a relative tolerance of 100 ulp for rounding), "less" those <=, and
    "two-sided" is twice the smaller one-sided p-value, capped at 1.
    """
    n = len(x)
    if n <= EXACT_MAX_N:
        perms, method_used, adjustment = _all_permutations(n), "exact", 0
    else:
        # argsort of uniform keys: an independent uniform permutation per row, without a Python loop.
        perms = np.argsort(rng.random((n_resamples, n)), axis=1)
        method_used, adjustment = "monte_carlo", 1
    observed = float(_null(method, x, y, np.arange(n)[None, :])[0])
    null = _null(method, x, y, perms)
    gamma = abs(100 * np.finfo(float).eps * observed)
    greater = (np.count_nonzero(null >= observed - gamma) + adjustment) / (len(perms) + adjustment)
    less = (np.count_nonzero(null <= observed + gamma) + adjustment) / (len(perms) + adjustment)
    p = {"greater": greater, "less": less}.get(alternative, min(1.0, 2 * min(greater, less)))
    return PermutationTest(float(p), method_used, len(perms))
