"""The report's head-to-head: leave-one-scheme-out, every predictor's regret, Holm's verdicts and the words."""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests

from dastat import stats
from dastat.study.analysis import leave_one_scheme_out, predictor_regret
from dastat.study.report import (
    correlation_words,
    head_to_head_table,
    pair_reading,
    predictor_lines,
    predictor_table,
    regret_lines,
)

SCHEMES = [f"s{i}" for i in range(9)]


def _table(x: np.ndarray, y: np.ndarray, *, teacher: str = "t", **extra) -> pd.DataFrame:
    return pd.DataFrame({"dataset": "digits", "teacher": teacher, "student": "s", "scheme": SCHEMES[:len(x)],
                         "t_stddev": x, "s_test_loss": y, **extra})


def test_leave_one_out_spans_the_correlations_without_each_scheme():
    rng = np.random.default_rng(0)
    x = rng.normal(size=9)
    y = x + rng.normal(0, 0.5, 9)
    row = leave_one_scheme_out(_table(x, y), ["t_stddev"], methods=("spearman",)).iloc[0]
    drops = [scipy.stats.spearmanr(np.delete(x, i), np.delete(y, i)).statistic for i in range(9)]
    assert math.isclose(row["r"], scipy.stats.spearmanr(x, y).statistic, rel_tol=1e-12)
    assert math.isclose(row["r_min"], min(drops), rel_tol=1e-12)
    assert math.isclose(row["r_max"], max(drops), rel_tol=1e-12)
    assert row["pivot"] == SCHEMES[int(np.argmin(drops))] and row["r_without_pivot"] == pytest.approx(min(drops))
    assert row["carried_by"] == ""  # a correlation of every point survives the loss of any one


def test_one_extreme_scheme_carrying_a_pearson_correlation_is_named():
    # Eight schemes with no relation; the ninth far out on both axes makes Pearson large and significant.
    x = np.array([0.1, -0.3, 0.2, 0.0, -0.1, 0.3, -0.2, 0.05, 5.0])
    y = np.array([0.2, 0.1, -0.2, 0.3, -0.1, -0.3, 0.0, 0.15, 5.0])
    rows = leave_one_scheme_out(_table(x, y), ["t_stddev"], methods=("pearson",))
    row = rows.iloc[0]
    assert row["p_value"] < 0.05 and row["carried_by"] == "s8"
    assert abs(row["r_without_pivot"]) < 0.5 * row["r"]


def test_leave_one_out_orients_negated_predictors():
    x = np.arange(9.0)
    rows = leave_one_scheme_out(_table(x, x, mean_entropy_xprime=x), ["mean_entropy_xprime"], methods=("pearson",))
    assert rows.iloc[0]["r"] == pytest.approx(-1.0)  # entropy enters negated (higher entropy, lower loss)


def test_regret_of_each_predictor_with_its_paired_interval_and_a_random_pick():
    table = pd.concat([_table(np.array([0.3, 0.1, 0.2]), np.array([0.50, 0.60, 0.40]), floor=0.5),
                       _table(np.array([0.1, 0.3, 0.2]), np.array([0.30, 0.20, 0.25]), teacher="u", floor=0.5)])
    per_seed = {("t", "s1"): [0.58, 0.60, 0.62], ("t", "s2"): [0.40, 0.41, 0.39], ("t", "s0"): [0.5] * 3,
                ("u", "s0"): [0.3] * 3, ("u", "s1"): [0.19, 0.2, 0.21], ("u", "s2"): [0.25] * 3}
    runs = pd.DataFrame([{"dataset": "digits", "teacher": t, "student": "s", "scheme": s, "seed": k, "test_loss": v}
                         for (t, s), values in per_seed.items() for k, v in enumerate(values)])
    out = predictor_regret(table, ["t_stddev", "floor"], runs=runs)
    assert set(out["predictor"]) == {"t_stddev"}  # the floor is constant within each pair: it picks nothing
    t = out[out["teacher"] == "t"].iloc[0]
    assert (t["chosen"], t["best"]) == ("s1", "s2") and t["regret"] == pytest.approx(0.20)
    diff = np.array([0.58 - 0.40, 0.60 - 0.41, 0.62 - 0.39])  # paired over seeds 0, 1, 2
    se = diff.std(ddof=1) / math.sqrt(3)
    assert t["regret_se"] == pytest.approx(se)
    assert t["regret_ci_low"] == pytest.approx(0.20 - 1.959963984540054 * se)
    assert t["random_regret"] == pytest.approx(0.50 - 0.40)
    u = out[out["teacher"] == "u"].iloc[0]
    assert u["chosen"] == "s0" and u["regret"] == pytest.approx(0.10)


@functools.lru_cache(maxsize=1)
def _comparison(seed: int = 0):
    rng = np.random.default_rng(seed)
    frames = []
    for teacher in ("t", "u"):
        y = rng.normal(size=9)
        frames.append(_table(y + rng.normal(0, 0.1, 9), y, teacher=teacher, t_ce_stddev=rng.normal(size=9),
                             teacher_acc_xprime=y + rng.normal(0, 1.0, 9)))
    table = pd.concat(frames, ignore_index=True)
    return stats.compare_predictors(table, ["t_stddev", "t_ce_stddev", "teacher_acc_xprime"], n_resamples=999)


def test_verdicts_adjust_within_each_pair_method_and_comparison():
    verdicts = _comparison().verdicts()
    assert set(zip(verdicts["level"], verdicts["method"], verdicts["test"])) == {
        ("pair", "pearson", "williams_t"), ("pair", "spearman", "bootstrap_schemes"),
        ("pair", "kendall", "bootstrap_schemes"), ("pooled", "pearson", "joint_bootstrap_schemes"),
        ("pooled", "spearman", "joint_bootstrap_schemes"), ("pooled", "kendall", "joint_bootstrap_schemes")}
    for _, family in verdicts.groupby(["level", "teacher", "method", "comparison"], dropna=False):
        assert len(family) == 3  # three predictors: three differences per family
        assert np.allclose(family["p_holm"], multipletests(family["p_value"], method="holm")[1])
    told = verdicts[verdicts["verdict"] == "told apart"]
    assert (told["p_holm"] < 0.05).all() and (verdicts["p_holm"] >= verdicts["p_value"]).all()
    # t_stddev tracks y closely, t_ce_stddev is noise: the Pearson difference is told apart in each pair.
    pearson = told[(told["level"] == "pair") & (told["method"] == "pearson") & (told["comparison"] == "oriented")]
    assert {(r.predictor_a, r.predictor_b, r.winner) for r in pearson.itertuples()} >= {
        ("t_stddev", "t_ce_stddev", "t_stddev")}


def test_which_predictor_lines_name_the_winner_first_inside_its_own_interval():
    comparison = _comparison()
    verdicts = comparison.verdicts()
    text = "\n".join(predictor_lines(verdicts, comparison.correlations))
    assert "t_stddev follows its declared direction more closely than t_ce_stddev (r_t_stddev − r_t_ce_stddev = +" \
        in text and "after Holm's adjustment" in text and "better at predicting" not in text
    assert "Smaller differences are not detectable at this n" in text
    for r in verdicts[verdicts["verdict"] == "told apart"].itertuples():
        assert r.ci_low_winner <= r.diff_winner <= r.ci_high_winner and r.diff_winner > 0
        assert "p_holm = 0)" not in text and "p_holm = 0 " not in text
    table = head_to_head_table(verdicts)
    assert set(table["comparison"]) == {"oriented", "strength"} and (table["tested"] == 3).all()
    wide = predictor_table(comparison.correlations)
    assert set(wide["where"]) == {"t → s", "u → s", "pooled"} and {"pearson", "spearman"} <= set(wide.columns)
    null = comparison.correlations.assign(ci_low=-0.5, ci_high=0.5)
    assert "none (a null for every predictor)" in "\n".join(predictor_lines(verdicts, null))


def test_regret_lines_say_among_how_many_schemes_the_pick_was_made():
    table = pd.concat([_table(np.array([0.3, 0.1, np.nan]), np.array([0.50, 0.60, 0.40]), floor=0.5)])
    out = predictor_regret(table, ["t_stddev"])
    row = out.iloc[0]
    assert row["best"] == "s2" and row["regret"] == pytest.approx(0.20) and row["random_regret"] == pytest.approx(0.1)
    assert "(among 2 schemes; rank 3 of all 3), regret 0.2000" in regret_lines(out)[0]


@pytest.mark.parametrize(("r", "low", "high", "p", "must", "must_not"), [
    (0.65, -0.05, 0.96, 0.06, "a null at this n", "strong"),  # the old report said "a strong ... covers zero"
    (0.05, -0.7, 0.75, 0.9, "a null at this n", "leans"),
    (0.65, 0.14, 0.99, 0.07, "weak evidence", "strong"),      # interval and test disagree
    (0.72, 0.12, 0.94, 0.03, "a correlation in the paper's direction, weak at the least", "very strong"),
    (-0.73, -1.00, -0.24, 0.02, "weak at the least", "very strong"),  # once "very strong" for this interval
    (-0.6, -0.9, -0.2, 0.01, "against the paper's direction", "null"),
])
def test_correlation_words_follow_the_interval_and_the_test(r, low, high, p, must, must_not):
    words = correlation_words(r, low, high, p)
    assert must in words and must_not not in words


def test_pair_reading_claims_a_direction_only_with_a_clear_rank_correlation():
    row = SimpleNamespace
    covers = pair_reading(row(r=0.65, ci_low=-0.05, ci_high=0.96, p_value=0.058, p_perm=0.067),
                          row(r=0.72, ci_low=0.12, ci_high=0.94, p_value=0.027))
    assert "strong" not in covers.split("Pearson")[0] and "Only the linear correlation is clear" in covers
    assert "orders the students' test losses" not in covers
    clear = pair_reading(row(r=0.8, ci_low=0.3, ci_high=0.95, p_value=0.01, p_perm=0.01),
                         row(r=0.8, ci_low=0.3, ci_high=0.95, p_value=0.01))
    assert "in the paper's direction (lower T. stddev, lower loss)" in clear


def test_the_few_points_line_reads_the_panels_n_and_its_critical_correlation():
    from scipy import stats

    from dastat.study.report import _few_points_line

    line = _few_points_line(pd.DataFrame({"n": [8, 8]}), num_schemes=9)  # a scheme without a probe: n = 8, not 9
    t = stats.t.ppf(0.975, 6)
    assert "8 schemes per pair" in line and f"n = 8 a correlation of about {t / (6 + t * t) ** 0.5:.2f}" in line
