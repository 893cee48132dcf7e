"""Pearson, Spearman and Kendall (tau-b) coefficients of many samples at once.

Every function takes x and y of shape [R, n] (R samples of n points each; a 1-D pair is one sample)
and returns r of shape [R]. They carry the bootstrap and the permutation tests, which evaluate a
coefficient on thousands of resamples, so they are vectorised over R. A sample with a constant x
or y has no coefficient and gives NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

METHODS: tuple[str, ...] = ("pearson", "spearman", "kendall")

# Rows are processed in chunks so that Kendall's [R, n, n] sign arrays stay near this many elements.
_CHUNK_ELEMENTS = 4_000_000


def _as_rows(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[None, :] if values.ndim == 1 else values


def pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row; x, y: float [R, n] -> [R]."""
    x, y = _as_rows(x), _as_rows(y)
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denom = np.sqrt((xc * xc).sum(-1) * (yc * yc).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(-1) / denom
    # A constant row is tested for by equality, as scipy does: its mean can differ from its values by
    # rounding, which leaves a tiny non-zero spread and a meaningless r.
    defined = (denom > 0) & (np.ptp(x, axis=-1) > 0) & (np.ptp(y, axis=-1) > 0)
    # Rounding can push |r| a hair past 1 for (near-)collinear data, as scipy also guards against.
    return np.where(defined, np.clip(r, -1.0, 1.0), np.nan)


def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row (Pearson's r of the mid-ranks, as scipy.stats.spearmanr)."""
    x, y = _as_rows(x), _as_rows(y)
    return pearson(rankdata(x, axis=-1), rankdata(y, axis=-1))


def kendall(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row (ties handled as scipy.stats.kendalltau's default variant "b")."""
    x, y = _as_rows(x), _as_rows(y)
    n = x.shape[-1]
    out = np.empty(x.shape[0])
    step = max(1, _CHUNK_ELEMENTS // max(1, n * n))
    for start in range(0, x.shape[0], step):
        xs, ys = x[start : start + step], y[start : start + step]
        sx = np.sign(xs[:, :, None] - xs[:, None, :])  # [r, n, n]
        sy = np.sign(ys[:, :, None] - ys[:, None, :])
        # Sums over the full matrix count every pair twice, numerator and denominator alike.
        concordance = (sx * sy).sum((1, 2))
        denom = np.sqrt((sx * sx).sum((1, 2)) * (sy * sy).sum((1, 2)))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + step] = np.where(denom > 0, concordance / denom, np.nan)
    return np.clip(out, -1.0, 1.0)


_FUNCTIONS = {"pearson": pearson, "spearman": spearman, "kendall": kendall}


def coefficient(method: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The coefficient named ``method`` ("pearson", "spearman" or "kendall") of each row."""
    return _FUNCTIONS[method](x, y)
