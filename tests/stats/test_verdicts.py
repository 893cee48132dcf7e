"""The verdict vocabulary: strength words follow the interval, levels come from the confidence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from dastat.stats import verdicts


def test_critical_value_is_the_normal_quantile_of_the_confidence():
    for level in (0.5, 0.9, 0.95, 0.99):
        assert verdicts.critical_value(level) == pytest.approx(sps.norm.ppf(0.5 + level / 2), rel=1e-12)


@pytest.mark.parametrize(("low", "high", "word"), [
    (-1.00, -0.24, "weak"),  # rho = -0.73 with this interval was once called "very strong"
    (-0.95, -0.72, "very strong"), (0.31, 0.98, "moderate"), (0.55, 0.99, "strong"), (0.05, 0.9, "negligible"),
    (-0.2, 0.9, ""),
    (math.nan, 0.5, ""),
])
def test_strength_is_the_word_of_the_interval_end_nearest_zero(low, high, word):
    assert verdicts.strength(low, high) == word


def test_excludes_zero_and_direction():
    assert verdicts.excludes_zero(0.1, 0.5) and verdicts.excludes_zero(-0.5, -0.1)
    assert not verdicts.excludes_zero(-0.1, 0.5) and not verdicts.excludes_zero(math.nan, 0.5)
    assert verdicts.direction(-0.7, -1.0, -0.2) == "negative" and verdicts.direction(0.7, -0.1, 0.9) == ""


def test_within_noise_follows_the_confidence():
    assert verdicts.within_noise(0.0, math.nan, 0.95) is True
    assert math.isnan(verdicts.within_noise(0.1, math.nan, 0.95))
    assert verdicts.within_noise(0.19, 0.1, 0.95) and not verdicts.within_noise(0.19, 0.1, 0.5)


def test_holm_matches_statsmodels_and_keeps_nan():
    p = pd.Series([0.01, np.nan, 0.04, 0.03, 0.2])
    ok = p.notna()
    assert np.allclose(verdicts.holm(p)[ok], multipletests(p[ok], method="holm")[1])
    assert math.isnan(verdicts.holm(p)[1])


def test_difference_verdicts():
    assert verdicts.difference_verdict(math.nan, math.nan, 0.05) == verdicts.UNTESTED
    assert verdicts.difference_verdict(0.001, 0.01, 0.05) == verdicts.TOLD_APART
    assert verdicts.difference_verdict(0.01, 0.2, 0.05) == verdicts.NOT_TOLD_APART
    # Williams' t rejects, Steiger's z on the same comparison does not: cannot decide.
    assert verdicts.difference_verdict(0.001, 0.01, 0.05, p_second=0.16) == verdicts.CANNOT_DECIDE
    words = verdicts.comparison_words("oriented", "a", "b") + verdicts.comparison_words("strength", "a", "b")
    assert "better at predicting" not in words and "declared direction" in words and "|r|" in words
