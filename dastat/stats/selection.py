"""Does the ranking pick the right scheme? Lowest T. stddev against lowest student loss, per pair."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dastat.stats.tables import PAIR_KEYS, check_by, check_frame, groups, has_values, numeric, require_columns


@dataclass(frozen=True)
class Selection:
    """Per-pair choices and the summary across pairs.

    ``pairs`` has one row per pair: the ``by`` keys, ``n`` (schemes), ``chosen`` (lowest x),
    ``chosen_tied`` (other schemes sharing that lowest x, ";"-joined), ``best`` (lowest y),
    ``chosen_loss``, ``best_loss``, ``regret`` (chosen_loss - best_loss >= 0), ``chosen_rank``
    (1 = best; ties share the lower rank), ``picks_best``, ``best_noise`` (the best scheme's
    y error, NaN without one) and ``within_noise`` (True when the pick is the best, else
    regret <= best_noise; NaN when the pick is not the best and the best has no error).
    """

    pairs: pd.DataFrame
    n_pairs: int
    frac_best: float
    frac_within_noise: float  # NaN when no pair has a y error
    mean_regret: float
    max_regret: float
    summary_columns: tuple[str, ...] = field(default=("n_pairs", "frac_best", "frac_within_noise",
                                                      "mean_regret", "max_regret"), repr=False)

    def to_dict(self) -> dict:
        """The summary and the per-pair rows as plain Python values."""
        out = {k: getattr(self, k) for k in self.summary_columns}
        out["pairs"] = self.pairs.to_dict(orient="records")
        return out


def selection(
    df: pd.DataFrame,
    x: str = "t_stddev",
    y: str = "s_test_loss",
    by: str | Iterable[str] | None = PAIR_KEYS,
    *,
    scheme: str = "scheme",
    y_err: str | None = "s_test_loss_err",
) -> Selection:
    """For each pair, the scheme T. stddev would pick against the one with the lowest student loss.

    Parameters
    ----------
    df : DataFrame
        One row per scheme and pair (``store.table()`` or the reference CSV).
    x, y, by, scheme : str
        T. stddev, student loss, pair keys and scheme columns.
    y_err : str or None
        Column with the seed noise of ``y`` (e.g. the stddev over seeds). Where it holds a value for
        the best scheme, a pick counts as "within noise" when its regret is at most that value.

    Returns
    -------
    Selection
        ``.pairs`` (one row per pair) and the fractions across pairs; see :class:`Selection`.
        When several schemes share the lowest x, the first in table order is taken as the pick and
        the others are listed in ``chosen_tied``: the loss is not used to break the tie.
    """
    df = check_frame(df)
    by = check_by(by, df)
    require_columns(df, [*by, scheme, x, y])
    use_err = has_values(df, y_err)
    rows = []
    for keys, group in groups(df, by):
        xv, yv = numeric(group, x).to_numpy(), numeric(group, y).to_numpy()
        keep = np.isfinite(xv) & np.isfinite(yv)
        names = group[scheme].astype(str).to_numpy()[keep]
        err = numeric(group, y_err).to_numpy()[keep] if use_err else np.full(keep.sum(), np.nan)
        xv, yv = xv[keep], yv[keep]
        if len(xv) == 0:
            continue
        pick, best = int(np.argmin(xv)), int(np.argmin(yv))
        tied = [names[i] for i in np.flatnonzero(xv == xv[pick]) if i != pick]
        regret = float(yv[pick] - yv[best])
        noise = float(err[best])
        rows.append({**keys, "n": len(xv), "chosen": names[pick], "chosen_tied": ";".join(tied),
                     "best": names[best], "chosen_loss": float(yv[pick]), "best_loss": float(yv[best]),
                     "regret": regret, "chosen_rank": int((yv < yv[pick]).sum()) + 1,
                     "picks_best": bool(yv[pick] == yv[best]), "best_noise": noise,
                     # Picking the best is always "within noise"; otherwise it needs the best's error.
                     "within_noise": True if regret == 0 else (regret <= noise if math.isfinite(noise) else math.nan)})
    columns = [*by, "n", "chosen", "chosen_tied", "best", "chosen_loss", "best_loss", "regret",
               "chosen_rank", "picks_best", "best_noise", "within_noise"]
    pairs = pd.DataFrame(rows, columns=columns)
    noisy = pairs["within_noise"].dropna()
    return Selection(
        pairs=pairs,
        n_pairs=len(pairs),
        frac_best=float(pairs["picks_best"].mean()) if len(pairs) else math.nan,
        frac_within_noise=float(noisy.astype(bool).mean()) if len(noisy) else math.nan,
        mean_regret=float(pairs["regret"].mean()) if len(pairs) else math.nan,
        max_regret=float(pairs["regret"].max()) if len(pairs) else math.nan,
    )
