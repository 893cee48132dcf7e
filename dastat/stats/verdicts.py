"""The words a result earns: one vocabulary for every verdict dastat prints (the report only renders them).

Every rule takes the confidence (or level) it is read at; none has a 95% or a 1.96 of its own.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import ndtri

# Cohen-style strength words for |r|, each the word for correlations at least as large as its bound.
STRENGTH_WORDS: tuple[tuple[float, str], ...] = ((0.7, "very strong"), (0.5, "strong"), (0.3, "moderate"),
                                                 (0.1, "weak"), (0.0, "negligible"))


def critical_value(confidence: float) -> float:
    """The two-sided normal quantile z_{(1 + confidence) / 2} (1.95996... at 0.95)."""
    return float(ndtri(0.5 + confidence / 2))


def excludes_zero(low: float, high: float) -> bool:
    """Whether an interval lies wholly on one side of zero (False for a missing end)."""
    return bool(low > 0 or high < 0)


def within_noise(value: float, se: float, confidence: float) -> float:
    """Whether ``value`` (>= 0, e.g. a regret) is at most ``critical_value(confidence)`` standard errors.

    True for a value of 0; NaN where the standard error is missing and the value is not 0.
    """
    if value == 0:
        return True
    if not math.isfinite(se):
        return math.nan
    return bool(value <= critical_value(confidence) * se)


def strength(low: float, high: float) -> str:
    """The strength word an interval on a correlation earns: the word of its end nearest zero.

    "" where the interval covers zero or is missing: the data then do not say how strong. A point
    estimate of -0.73 with the interval [-1.00, -0.24] earns "weak", not "very strong": the interval's
    weakest end is what the data support.
    """
    if not excludes_zero(low, high):
        return ""
    nearest = min(abs(low), abs(high))
    return next(word for bound, word in STRENGTH_WORDS if nearest >= bound)


def direction(r: float, low: float, high: float) -> str:
    """"positive" or "negative" where the interval excludes zero, else ""."""
    if not excludes_zero(low, high):
        return ""
    return "positive" if r > 0 else "negative"


def holm(p_values: pd.Series) -> pd.Series:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN and is not counted)."""
    p = pd.to_numeric(p_values, errors="coerce")
    ok = p.dropna().sort_values()
    m = len(ok)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * ok.to_numpy()))
    return pd.Series(adjusted, index=ok.index).reindex(p.index)


TOLD_APART = "told apart"
NOT_TOLD_APART = "not told apart"
CANNOT_DECIDE = "cannot decide"
UNTESTED = "untested"


def difference_verdict(p_value: float, p_holm: float, alpha: float, p_second: float = math.nan) -> str:
    """The verdict on a difference of two predictors' correlations.

    ``untested`` without a p-value; ``cannot decide`` where a second test of the same comparison
    (``p_second``, e.g. Steiger's z beside Williams' t) disagrees about rejecting at ``alpha``;
    ``told apart`` where the Holm-adjusted p-value is under ``alpha``; ``not told apart`` otherwise.
    """
    if not math.isfinite(p_value):
        return UNTESTED
    if math.isfinite(p_second) and (p_value < alpha) != (p_second < alpha):
        return CANNOT_DECIDE
    return TOLD_APART if p_holm < alpha else NOT_TOLD_APART


def comparison_words(comparison: str, winner: str, loser: str) -> str:
    """What a told-apart difference says, in the words of its comparison (never "better at predicting")."""
    if comparison == "strength":
        return f"{winner} orders the losses more closely than {loser} (larger |r|, each in its fitted direction)"
    return f"{winner} follows its declared direction more closely than {loser}"


def bootstrap_p_floor(n_resamples: int) -> float:
    """The smallest p-value a bootstrap of ``n_resamples`` draws can report: 1 / (B + 1), never 0."""
    return 1.0 / (n_resamples + 1)


__all__ = ["CANNOT_DECIDE", "NOT_TOLD_APART", "STRENGTH_WORDS", "TOLD_APART", "UNTESTED", "bootstrap_p_floor",
           "comparison_words", "critical_value", "difference_verdict", "direction", "excludes_zero", "holm",
           "strength", "within_noise"]
