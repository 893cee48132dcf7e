"""The plateau rule: the last 20% of epochs change the test loss by less than 1%, read literally (range)
and as a fitted trend checked against scipy and against the t distribution."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats

from dastat.study import plateau
from dastat.study.plateau import plateau_table


def test_flat_tail_is_a_plateau_and_settled_epoch_is_where_it_began():
    losses = [2.0, 1.0, 0.5, 0.30, 0.200, 0.1995, 0.1992, 0.1991, 0.1990, 0.1990]
    stats = plateau(losses)
    assert stats["is_plateau"] and stats["epochs"] == 10
    # the last 20% (2 epochs) and the epoch before them: 0.1991 .. 0.1990
    assert math.isclose(stats["rel_change"], (0.1991 - 0.1990) / 0.1990)
    assert stats["settled_epoch"] == 5  # 0.200 is within 1% of 0.1990, 0.30 is not


def test_unscored_epochs_leave_the_window_alone_and_the_settled_epoch_unknown():
    nan = math.nan
    whole = [2.0, 1.0, 0.5, 0.30, 0.200, 0.1995, 0.1992, 0.1991, 0.1990, 0.1990]
    late = [nan] * 7 + whole[7:]  # scored from epoch 8: the window (2 epochs) and the one before
    stats, full = plateau(late), plateau(whole)
    assert stats["epochs"] == 10 and stats["rel_change"] == full["rel_change"] and stats["is_plateau"]
    assert stats["settled_epoch"] is None  # in the band from its first scored epoch: since when, unknown
    assert plateau([nan] * 4 + whole[4:])["settled_epoch"] is None  # first scored (epoch 5) already in it
    assert plateau([nan] * 3 + whole[3:])["settled_epoch"] == 5  # epoch 4's 0.30 is scored and outside it


def test_a_loss_still_falling_is_not_a_plateau():
    losses = [1.0, 0.8, 0.6, 0.5, 0.4]
    stats = plateau(losses)
    assert not stats["is_plateau"]
    assert math.isclose(stats["rel_change"], 0.25)
    assert stats["settled_epoch"] == 4  # 0.5 is inside the window; 0.6 lies outside its range + 1%
    assert math.isnan(stats["trend"]) and not stats["is_flat"]  # two losses: no line to fit


def test_a_single_epoch_cannot_show_a_plateau():
    assert plateau([0.5])["is_plateau"] is False
    assert plateau([])["epochs"] == 0


def test_jitter_about_a_flat_level_fails_the_range_rule_but_is_flat():
    tail = [1.03, 0.97, 1.0, 0.97, 1.03]  # symmetric about its middle: the fitted slope is exactly 0
    losses = [3.0 - 0.1 * i for i in range(15)] + tail  # 20 epochs: the window is the last 4 and one before
    stats = plateau(losses)
    assert not stats["is_plateau"] and math.isclose(stats["rel_change"], 0.06 / 0.97)
    assert stats["is_flat"] and abs(stats["trend"]) < 1e-12
    assert math.isclose(stats["jitter"], math.sqrt(4 * 0.03**2 / 3))  # residual sd / level 1.0
    assert stats["settled_epoch"] == 16


def test_trend_and_its_standard_error_match_scipy_linregress():
    rng = np.random.default_rng(0)
    losses = list(np.linspace(0.5, 0.45, 30) + rng.normal(0, 0.002, 30))
    stats = plateau(losses)
    tail = np.asarray(losses[-7:])  # ceil(0.2 * 30) = 6 epochs and the one before
    fit = scipy.stats.linregress(np.arange(len(tail)), tail)
    assert math.isclose(stats["trend"], fit.slope * 6 / tail.mean(), rel_tol=1e-9)
    assert math.isclose(stats["trend_se"], fit.stderr * 6 / tail.mean(), rel_tol=1e-9)
    assert stats["trend"] < -0.01 and not stats["is_flat"]  # falling ~2% over the window, jitter ~0.4%


def test_pure_jitter_is_called_flat_as_often_as_the_t_distribution_says():
    # A flat level plus noise: |trend| / trend_se is |t| with m - 2 degrees of freedom, and with jitter
    # of 3% the 1% branch never decides, so the flat rate is P(|t_7| < 2).
    rng = np.random.default_rng(1)
    reps, m = 4000, 9  # 40 epochs: the window holds 8 epochs and the one before
    flat = sum(plateau(list(1.0 + rng.normal(0, 0.03, 40)))["is_flat"] for _ in range(reps))
    expected = 1 - 2 * scipy.stats.t.sf(2.0, m - 2)
    sampling_sd = math.sqrt(expected * (1 - expected) / reps)
    assert abs(flat / reps - expected) < 4 * sampling_sd


def test_plateau_table_reads_curves_per_run():
    students = pd.DataFrame({"run_id": ["a", "b"], "teacher": "t", "student": "s", "scheme": ["x", "y"],
                             "seed": [0, 0]})
    curves = pd.DataFrame({"run_id": ["a"] * 3 + ["b"] * 3, "epoch": [3, 1, 2, 1, 2, 3],
                           "test_loss": [1.0, 3.0, 1.001, 3.0, 2.0, 1.0]})
    table = plateau_table(students, curves)
    assert table["is_plateau"].tolist() == [True, False]
    assert table["epochs"].tolist() == [3, 3]
