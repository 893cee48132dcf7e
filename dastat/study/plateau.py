"""Whether a student's test loss had stopped moving: the study's plateau rule (docs/method.md, "KD recipe").

Read literally, the rule (over the last 20% of the epochs the test loss changes by less than 1%) compares
the largest and smallest loss of that window. On a small test split that range has a floor that no
number of epochs removes: every training batch still updates the BatchNorm running statistics when the
learning rate is near zero, so the test loss jitters from epoch to epoch by a few percent around a flat
level. :func:`plateau` therefore also fits a line through the window and reports its net change, with
the jitter about it and the change's standard error, so that a trend can be told apart from noise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# docs/method.md, "KD recipe": over the last 20% of the epochs, the test loss changes by less than 1%.
WINDOW = 0.2
RTOL = 0.01


def _span(epochs: int, window: float) -> int:
    return max(1, math.ceil(window * epochs))


def window_start(epochs: int, *, window: float = WINDOW) -> int:
    """The first epoch :func:`plateau` reads for a run of ``epochs`` epochs: the window and the epoch before."""
    return max(1, epochs - _span(epochs, window))


def plateau(losses: list[float], *, window: float = WINDOW, rtol: float = RTOL) -> dict:
    """Plateau statistics of one test-loss curve (one value per epoch, in order).

    Parameters
    ----------
    losses : list of float
        Test loss after each epoch (NaN where the test set was not scored; the window must be scored).
    window : float
        Fraction of the epochs at the end that must be flat; the window also holds the epoch before
        them, so at least two losses are compared.
    rtol : float
        Largest allowed relative change.

    Returns
    -------
    dict
        ``epochs``;
        ``rel_change`` = (max - min) / min of the window and ``is_plateau`` = ``rel_change < rtol`` (the
        rule read literally);
        ``trend``, the net change of the least-squares line through the window relative to its mean
        level, ``trend_se`` its standard error and ``jitter`` the relative standard deviation of the
        losses about the line (both NaN with fewer than 3 losses in the window);
        ``is_flat`` = ``|trend| < max(rtol, 2 trend_se)``: no net change beyond 1% that the jitter
        cannot explain;
        ``settled_epoch``, the first epoch from which every loss stays within the window's range
        widened by ``rtol`` (how many epochs reaching the plateau took); None when the losses before the
        first scored epoch are NaN (a run that scored its test set only from ``test_from``) and every
        scored loss lies in that band.
    """
    n = len(losses)
    empty = {"epochs": n, "rel_change": math.nan, "is_plateau": False, "trend": math.nan, "trend_se": math.nan,
             "jitter": math.nan, "is_flat": False, "settled_epoch": None}
    if n == 0:
        return empty
    span = _span(n, window)
    tail = np.asarray(losses[-(span + 1):], dtype=float)
    low, high = float(tail.min()), float(tail.max())
    rel_change = (high - low) / low if low > 0 else math.inf
    trend = trend_se = jitter = math.nan
    if len(tail) >= 3 and low > 0:
        t = np.arange(len(tail), dtype=float)
        slope, intercept = np.polyfit(t, tail, 1)
        level = float(tail.mean())
        residual_sd = math.sqrt(float(np.sum((tail - (slope * t + intercept)) ** 2)) / (len(tail) - 2))
        spread = float(np.sum((t - t.mean()) ** 2))
        trend = float(slope) * (len(tail) - 1) / level
        trend_se = residual_sd / math.sqrt(spread) * (len(tail) - 1) / level
        jitter = residual_sd / level
    band_low, band_high = low * (1 - rtol), high * (1 + rtol)
    settled = n
    while settled > 1 and band_low <= losses[settled - 2] <= band_high:
        settled -= 1
    if settled > 1 and math.isnan(losses[settled - 2]):
        settled = None  # it stayed in the band from the first scored epoch: when it got there is unknown
    return {"epochs": n, "rel_change": float(rel_change), "is_plateau": bool(n >= 2 and rel_change < rtol),
            "trend": trend, "trend_se": trend_se, "jitter": jitter,
            "is_flat": bool(math.isfinite(trend) and abs(trend) < max(rtol, 2 * trend_se)),
            "settled_epoch": settled}


def plateau_table(students: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per student run: its keys and the :func:`plateau` statistics of its curve."""
    keys = ["run_id", "teacher", "student", "scheme", "seed"]
    rows = []
    for run in students[keys].itertuples(index=False):
        curve = curves[curves["run_id"] == run.run_id].sort_values("epoch")
        rows.append({**run._asdict(), **plateau(curve["test_loss"].astype(float).tolist())})
    columns = [*keys, "epochs", "rel_change", "is_plateau", "trend", "trend_se", "jitter", "is_flat",
               "settled_epoch"]
    return pd.DataFrame(rows, columns=columns)


__all__ = ["RTOL", "WINDOW", "plateau", "plateau_table", "window_start"]
