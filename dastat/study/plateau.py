"""Whether a student's test loss had stopped moving: the study's plateau rule (issue 8)."""

from __future__ import annotations

import math

import pandas as pd

# Issue 8: over the last 20% of the epochs, the test loss changes by less than 1%.
WINDOW = 0.2
RTOL = 0.01


def plateau(losses: list[float], *, window: float = WINDOW, rtol: float = RTOL) -> dict:
    """Plateau statistics of one test-loss curve (one value per epoch, in order).

    Parameters
    ----------
    losses : list of float
        Test loss after each epoch.
    window : float
        Fraction of the epochs at the end that must be flat (at least the last two epochs are compared).
    rtol : float
        Largest allowed relative change.

    Returns
    -------
    dict
        ``epochs``; ``rel_change`` = (max - min) / min of the test loss over the last ``window`` of the
        epochs (and the epoch before them); ``is_plateau`` = ``rel_change < rtol``; ``settled_epoch``,
        the first epoch from which every later loss is within ``rtol`` of the final one (how many
        epochs reaching the plateau took).
    """
    n = len(losses)
    if n == 0:
        return {"epochs": 0, "rel_change": math.nan, "is_plateau": False, "settled_epoch": None}
    span = max(1, math.ceil(window * n))
    tail = losses[-(span + 1):]
    low = min(tail)
    rel_change = (max(tail) - low) / low if low > 0 else math.inf
    final = losses[-1]
    settled = n
    for epoch in range(n, 0, -1):
        if abs(losses[epoch - 1] - final) <= rtol * abs(final):
            settled = epoch
        else:
            break
    return {"epochs": n, "rel_change": float(rel_change), "is_plateau": bool(n >= 2 and rel_change < rtol),
            "settled_epoch": settled}


def plateau_table(students: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per student run: its keys and the :func:`plateau` statistics of its curve."""
    keys = ["run_id", "teacher", "student", "scheme", "seed"]
    rows = []
    for run in students[keys].itertuples(index=False):
        curve = curves[curves["run_id"] == run.run_id].sort_values("epoch")
        rows.append({**run._asdict(), **plateau(curve["test_loss"].astype(float).tolist())})
    columns = [*keys, "epochs", "rel_change", "is_plateau", "settled_epoch"]
    return pd.DataFrame(rows, columns=columns)


__all__ = ["RTOL", "WINDOW", "plateau", "plateau_table"]
