"""Bootstraps that are functions of their data: a seed drawn from what is resampled, and a joint
resample of schemes shared by several pairs.

Seeding a bootstrap from its data (and the user's seed) gives the same interval for the same points
wherever they appear: alone, in a larger table, in another report section (docs/method.md,
"Teacher-side predictors"). The points are put in a canonical order first, so the order of the rows
does not matter either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def canonical_order(*columns: np.ndarray) -> np.ndarray:
    """Indices that sort the points [n] by their first column, ties by the next (NaN last)."""
    return np.lexsort(tuple(np.asarray(c, float) for c in reversed(columns)))


def data_rng(seed: int, purpose: str, *arrays: np.ndarray | Sequence[np.ndarray]) -> np.random.Generator:
    """A generator seeded by ``seed``, ``purpose`` and the bytes of ``arrays`` (float64, as given).

    Pass the arrays in canonical order (:func:`canonical_order`) for a seed that ignores row order.
    """
    digest = hashlib.blake2b(f"{int(seed)}:{purpose}".encode(), digest_size=16)
    for array in arrays:
        parts = array if isinstance(array, list | tuple) else [array]
        for part in parts:
            values = np.ascontiguousarray(np.asarray(part, dtype=np.float64))
            digest.update(str(values.shape).encode())
            digest.update(values.tobytes())
    return np.random.default_rng(int.from_bytes(digest.digest(), "little"))


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson's r of each row with integer weights w [B, n] (the points repeated w times)."""
    total = w.sum(-1, keepdims=True)
    xc = x - (w * x).sum(-1, keepdims=True) / total
    yc = y - (w * y).sum(-1, keepdims=True) / total
    denom = np.sqrt((w * xc * xc).sum(-1) * (w * yc * yc).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (w * xc * yc).sum(-1) / denom
    return np.where(denom > 1e-300, np.clip(r, -1.0, 1.0), np.nan)


def _weighted_ranks(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mid-ranks [B, n] of the points within the sample where point j appears w[b, j] times."""
    below = (values[None, :] < values[:, None]).astype(float)  # [n, n]: j below i
    tied = (values[None, :] == values[:, None]).astype(float)
    return w @ below.T + (w @ tied.T + 1) / 2


def weighted_coefficient(method: str, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The coefficient of the resamples that repeat point j ``w[b, j]`` times: x, y [n], w [B, n] -> [B].

    Equal to :func:`dastat.stats.coefficients.coefficient` on the expanded resample (tested), without
    building it, so that pairs holding different subsets of a joint resample of schemes can share it.
    """
    x, y, w = np.asarray(x, float), np.asarray(y, float), np.asarray(w, float)
    if method == "pearson":
        return _weighted_pearson(np.broadcast_to(x, w.shape), np.broadcast_to(y, w.shape), w)
    if method == "spearman":
        return _weighted_pearson(_weighted_ranks(x, w), _weighted_ranks(y, w), w)
    sx, sy = np.sign(x[:, None] - x[None, :]), np.sign(y[:, None] - y[None, :])  # [n, n]
    # Each pair of expanded points counts w_i w_j times; copies of one point tie on both axes.
    concordance = np.einsum("bi,ij,bj->b", w, sx * sy, w)
    denom = np.sqrt(np.einsum("bi,ij,bj->b", w, sx * sx, w) * np.einsum("bi,ij,bj->b", w, sy * sy, w))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.clip(concordance / denom, -1.0, 1.0), np.nan)


def joint_counts(n_units: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n_units`` (schemes) is drawn in each of ``n_resamples`` resamples: [B, n_units]."""
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_resamples).astype(float)


def joint_layout(units: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The sorted union of the groups' units (schemes), and each group's rows as indices into it."""
    union = np.unique(np.concatenate(units))
    return union, [np.searchsorted(union, u) for u in units]


def fixed_effect_draws(method: str, columns: list[list[tuple[np.ndarray, np.ndarray]]], index: list[np.ndarray],
                       n_units: int, weights: np.ndarray, rng: np.random.Generator, n_resamples: int) -> np.ndarray:
    """A fixed-effect summary over groups on joint resamples of their shared units: [B, C].

    ``columns[g]`` holds group g's (x, y) samples, one per summary column c; ``index[g]`` maps its
    rows to the units (:func:`joint_layout`). Each resample draws the units once for all groups, and
    column c is sum_g weights[g] coef(x_gc, y_g) / sum_g weights[g] on it: a unit that several
    groups share is drawn for all of them together.
    """
    counts = joint_counts(n_units, n_resamples, rng)  # [B, U]
    total = np.zeros((n_resamples, len(columns[0])))
    for w, idx, cols in zip(weights, index, columns):
        # Units a pair lacks are simply absent from its resample.
        for c, (x, y) in enumerate(cols):
            total[:, c] += w * weighted_coefficient(method, x, y, counts[:, idx])
    return total / weights.sum()
