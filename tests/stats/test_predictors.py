"""compare_predictors: per-pair and pooled head-to-head of teacher-side predictors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr, ndtri

from dastat.errors import InvalidArgumentError
from dastat.stats import compare_predictors, correlate, dependent, load_reference, meta_analysis
from dastat.stats.pooled import random_effects
from dastat.stats.predictors import PREDICTORS, available_predictors


def _table(rng, n_pairs=3, n=12, r_ya=0.6, r_yb=0.2, r_ab=0.4, columns=("a", "b")):
    cov = np.array([[1, r_ya, r_yb], [r_ya, 1, r_ab], [r_yb, r_ab, 1]])
    rows = []
    for pair in range(n_pairs):
        data = rng.standard_normal((n, 3)) @ np.linalg.cholesky(cov).T
        for i in range(n):
            rows.append({"dataset": "digits", "teacher": f"t{pair}", "student": "s", "scheme": f"s{i}",
                         "s_test_loss": data[i, 0], columns[0]: data[i, 1], columns[1]: data[i, 2]})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def result():
    table = _table(np.random.default_rng(1))
    return table, compare_predictors(table, ["a", "b"], n_resamples=300)


def test_per_pair_correlations_are_those_of_correlate(result):
    table, out = result
    mine = out.correlations[(out.correlations["level"] == "pair") & (out.correlations["predictor"] == "a")]
    ref = correlate(table, x="a", methods="pearson", n_resamples=0)
    pearson = mine[mine["method"] == "pearson"]
    assert pearson["r"].to_numpy() == pytest.approx(ref["r"].to_numpy(), rel=1e-12)
    assert pearson["ci_low"].to_numpy() == pytest.approx(ref["ci_low"].to_numpy(), rel=1e-12)
    assert pearson["p_value"].to_numpy() == pytest.approx(ref["p_value"].to_numpy(), rel=1e-12)
    assert set(mine["method"]) == {"pearson", "spearman", "kendall"} and (mine["n"] == 12).all()


def test_pearson_differences_are_williams_and_steiger_on_the_pairs_correlations(result):
    table, out = result
    rows = out.differences[(out.differences["level"] == "pair") & (out.differences["method"] == "pearson")]
    assert sorted(set(rows["test"])) == ["steiger_z", "williams_t"]
    for teacher, group in table.groupby("teacher"):
        c = np.corrcoef(group[["s_test_loss", "a", "b"]].to_numpy().T)
        expected = dependent.williams_t(c[0, 1], c[0, 2], c[1, 2], 12)
        row = rows[(rows["teacher"] == teacher) & (rows["test"] == "williams_t")].iloc[0]
        assert row["diff"] == pytest.approx(c[0, 1] - c[0, 2], rel=1e-12)
        assert (row["statistic"], row["p_value"]) == pytest.approx((expected.statistic, expected.p_value))
        zou = dependent.zou_interval(c[0, 1], c[0, 2], c[1, 2], 12, 0.95)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((zou.low, zou.high))


def test_pooled_rows_pool_the_pairs_by_meta_analysis_and_stratified_bootstrap(result):
    _, out = result
    pairs = out.differences[(out.differences["level"] == "pair") & (out.differences["test"] == "williams_t")]
    pooled = out.differences[out.differences["level"] == "pooled"].set_index("method")
    diffs = np.arctanh(pairs["r_a"]) - np.arctanh(pairs["r_b"])
    variances = [dependent.steiger_variance(a, b, ab, n)
                 for a, b, ab, n in pairs[["r_a", "r_b", "r_ab", "n"]].itertuples(index=False)]
    meta = random_effects(diffs.to_numpy(), np.array(variances))
    row = pooled.loc["pearson"]
    assert row["test"] == "meta_steiger_z" and row["scale"] == "fisher_z" and row["n_pairs"] == 3
    assert (row["diff"], row["ci_low"], row["p_value"]) == pytest.approx((meta["estimate"], meta["ci_low"],
                                                                          meta["p_value"]))
    rank = out.differences[(out.differences["level"] == "pair") & (out.differences["method"] == "spearman")]
    assert pooled.loc["spearman", "diff"] == pytest.approx(rank["diff"].mean())  # equal n: plain mean
    assert pooled.loc["spearman", "ci_low"] < pooled.loc["spearman", "diff"] < pooled.loc["spearman", "ci_high"]
    corr = out.correlations[out.correlations["level"] == "pooled"].set_index(["predictor", "method"])
    per_pair = out.correlations[(out.correlations["level"] == "pair") & (out.correlations["method"] == "pearson")
                                & (out.correlations["predictor"] == "a")]
    assert corr.loc[("a", "pearson"), "r"] == pytest.approx(
        meta_analysis(per_pair["r"].to_numpy(), per_pair["n"].to_numpy())["estimate"])


def test_signs_orient_a_predictor_and_entropy_enters_negated():
    table = _table(np.random.default_rng(2), columns=("t_stddev", "mean_entropy_xprime"))
    plain = compare_predictors(table, "t_stddev,mean_entropy_xprime", methods="pearson", n_resamples=1)
    flipped = compare_predictors(table.assign(mean_entropy_xprime=-table["mean_entropy_xprime"]),
                                 "t_stddev,mean_entropy_xprime", methods="pearson", n_resamples=1,
                                 signs={"mean_entropy_xprime": 1})
    a, b = (out.correlations.set_index(["teacher", "predictor"]) for out in (plain, flipped))
    assert (a["sign"].xs("mean_entropy_xprime", level=1) == -1).all()
    assert a["r"].to_numpy() == pytest.approx(b["r"].to_numpy())
    with pytest.raises(InvalidArgumentError, match=r"signs\['t_stddev'\] must be 1 or -1"):
        compare_predictors(table, "t_stddev,mean_entropy_xprime", signs={"t_stddev": 0})


def test_all_takes_the_known_predictors_the_table_holds():
    table = _table(np.random.default_rng(3), columns=("t_stddev", "floor")).assign(t_ce_stddev=np.nan)
    assert available_predictors(table) == ["t_stddev", "floor"]
    out = compare_predictors(table, "all", methods="pearson", n_resamples=1)
    assert set(out.correlations["predictor"]) == {"t_stddev", "floor"}
    assert set(PREDICTORS) >= {"t_stddev", "t_stddev_rel", "t_ce_stddev", "mean_entropy_xprime", "floor"}


def test_fewer_than_two_predictors_or_a_missing_column_is_refused():
    paper = load_reference("paper")
    with pytest.raises(InvalidArgumentError, match=r"at least two columns.*t_stddev"):
        compare_predictors(paper, "all")
    with pytest.raises(InvalidArgumentError, match="lacks the column"):
        compare_predictors(paper, ["t_stddev", "floor"])


def test_identical_predictors_do_not_differ_and_missing_values_shrink_only_their_comparisons():
    table = _table(np.random.default_rng(4), n_pairs=1)
    table = table.assign(c=table["a"] * 2.0)
    table.loc[0, "b"] = np.nan
    out = compare_predictors(table, ["a", "b", "c"], methods="pearson", n_resamples=1)
    d = out.differences.set_index(["predictor_a", "predictor_b", "test"])
    assert d.loc[("a", "c", "williams_t"), "diff"] == pytest.approx(0, abs=1e-12)
    assert math.isnan(d.loc[("a", "c", "williams_t"), "p_value"])
    assert "collinear" in d.loc[("a", "c", "steiger_z"), "reason"]
    assert d.loc[("a", "c", "williams_t"), "n"] == 12 and d.loc[("a", "b", "williams_t"), "n"] == 11
    assert (out.correlations["level"] == "pair").all()  # one pair: nothing to pool


def _pooled_rejection_rate(reps, seed, r_yb):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        out = compare_predictors(_table(rng, n_pairs=4, n=15, r_ya=0.5, r_yb=r_yb, r_ab=0.5), ["a", "b"],
                                 methods="pearson", n_resamples=1)
        pooled = out.differences[out.differences["level"] == "pooled"].iloc[0]
        hits += pooled["p_value"] < 0.05
    return hits / reps


def _margin(p, reps, z=3.5):
    return z * math.sqrt(p * (1 - p) / reps)


def test_pooled_meta_difference_keeps_its_level_and_detects_a_known_difference():
    # 4 pairs of 15 schemes: under H0 (rho_ya = rho_yb) the pooled Steiger-z meta-analysis rejects at
    # ~5%. Under rho_ya, rho_yb = 0.5, 0.1 it must reject more often than under H0, and no more often
    # than a fixed-effect pool of the four z differences with their true variances (normal theory,
    # as in test_dependent), which a random-effects pool on estimated variances cannot beat.
    reps = 250
    null = _pooled_rejection_rate(reps, 31, r_yb=0.5)
    assert abs(null - 0.05) <= _margin(0.05, reps)
    r_ya, r_yb, r_ab, n, k = 0.5, 0.1, 0.5, 15, 4
    psi = r_ab * (1 - r_ya**2 - r_yb**2) - 0.5 * r_ya * r_yb * (1 - r_ya**2 - r_yb**2 - r_ab**2)
    c = psi / ((1 - r_ya**2) * (1 - r_yb**2))
    sd_alt = math.sqrt((2 - 2 * c) / (k * (n - 3)))
    sd_null = math.sqrt(dependent.steiger_variance(r_ya, r_yb, r_ab, n) / k)
    delta, crit = math.atanh(r_ya) - math.atanh(r_yb), float(ndtri(0.975))
    fixed_power = float(ndtr((delta - crit * sd_null) / sd_alt) + ndtr((-delta - crit * sd_null) / sd_alt))
    reps_alt = 100
    alt = _pooled_rejection_rate(reps_alt, 32, r_yb=r_yb)
    assert 0.05 + _margin(0.05, reps_alt) < alt <= fixed_power + _margin(fixed_power, reps_alt)


@pytest.mark.slow
def test_pooled_meta_difference_level_with_more_repetitions():
    reps = 2000
    null = _pooled_rejection_rate(reps, 33, r_yb=0.5)
    assert abs(null - 0.05) <= _margin(0.05, reps)


def test_no_resamples_leaves_rank_intervals_empty_but_keeps_the_estimates(result):
    table, _ = result
    out = compare_predictors(table, ["a", "b"], n_resamples=0)
    rank = out.differences[out.differences["method"] == "kendall"]
    assert rank["diff"].notna().all() and rank["p_value"].isna().all()
    assert (rank["reason"].str.contains("n_resamples = 0")).all()
    pearson = out.differences[out.differences["test"] == "williams_t"]
    assert pearson["p_value"].notna().all()
