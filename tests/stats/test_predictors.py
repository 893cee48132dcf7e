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
    assert set(PREDICTORS) >= {"t_stddev", "t_stddev_rel", "t_ce_stddev", "entropy_xprime", "affinity",
                               "ce_xprime", "consistency", "sharpness", "floor"}


def test_all_takes_an_older_column_where_the_newer_one_is_missing():
    rng = np.random.default_rng(4)
    old = _table(rng, columns=("t_stddev", "mean_entropy_xprime"))
    old = old.assign(teacher_acc_xprime=rng.uniform(0.5, 1, len(old)))
    assert available_predictors(old) == ["t_stddev", "mean_entropy_xprime", "teacher_acc_xprime"]
    new = old.assign(entropy_xprime=old["mean_entropy_xprime"], affinity=rng.uniform(0.5, 1, len(old)))
    assert available_predictors(new) == ["t_stddev", "entropy_xprime", "affinity"]


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
    two = _table(np.random.default_rng(5), n_pairs=2)
    pooled = compare_predictors(two.assign(c=two["a"] * 3.0), ["a", "c"], methods="pearson", n_resamples=0)
    row = pooled.differences[pooled.differences["level"] == "pooled"].iloc[0]
    assert math.isnan(row["diff"]) and "collinear" in row["reason"]


def _pooled_rejection_rate(reps, seed, r_yb):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        out = compare_predictors(_table(rng, n_pairs=4, n=15, r_ya=0.5, r_yb=r_yb, r_ab=0.5), ["a", "b"],
                                 methods="pearson", n_resamples=0)
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
    reps = 200
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


def _runs(rng, n_schemes=12, n_runs=3, noise=0.5):
    """Run-level rows where a and b have the same true scheme values: any difference is seed noise."""
    truth, other = rng.standard_normal(n_schemes), rng.standard_normal(n_schemes)
    rows = []
    for s in range(n_schemes):
        for _ in range(n_runs):
            rows.append({"kind": "probe", "dataset": "digits", "teacher": "t", "student": None, "scheme": f"s{s}",
                         "a": truth[s] + noise * rng.standard_normal(),
                         "b": truth[s] + noise * rng.standard_normal(), "s_test_loss": np.nan})
            rows.append({"kind": "student", "dataset": "digits", "teacher": "t", "student": "s", "scheme": f"s{s}",
                         "a": np.nan, "b": np.nan, "s_test_loss": truth[s] + other[s] + noise * rng.standard_normal()})
    return pd.DataFrame(rows)


def _seed_means(runs):
    probes = runs[runs["kind"] == "probe"].groupby("scheme")[["a", "b"]].mean()
    students = runs[runs["kind"] == "student"].groupby(["dataset", "teacher", "student", "scheme"])
    return students["s_test_loss"].mean().reset_index().join(probes, on="scheme")


def test_run_bootstrap_rows_use_the_scheme_means_and_collapse_with_single_runs():
    runs = _runs(np.random.default_rng(8))
    out = compare_predictors(_seed_means(runs), ["a", "b"], runs=runs, methods="pearson,kendall", n_resamples=200)
    rows = out.differences[out.differences["test"] == "bootstrap_runs"].set_index("method")
    pearson = out.differences[out.differences["test"] == "williams_t"].iloc[0]
    assert rows.loc["pearson", "diff"] == pytest.approx(pearson["diff"])  # same scheme means
    assert rows.loc["pearson", "ci_low"] < rows.loc["pearson", "ci_high"] and rows.loc["pearson", "n"] == 12
    single = runs.groupby(["kind", "scheme"]).head(1)  # one run per scheme and kind: no seed noise left
    out = compare_predictors(_seed_means(single), ["a", "b"], runs=single, methods="pearson", n_resamples=50)
    row = out.differences[out.differences["test"] == "bootstrap_runs"].iloc[0]
    assert row["ci_low"] == pytest.approx(row["diff"]) and row["ci_high"] == pytest.approx(row["diff"])
    with pytest.raises(InvalidArgumentError, match="runs lacks the column"):
        compare_predictors(_seed_means(runs), ["a", "b"], runs=runs.drop(columns="kind"))


def test_widened_run_resamples_have_the_variance_of_a_fresh_mean():
    # The mean of m fresh runs has variance s^2 / m; a plain resample of the m observed runs gives
    # (m - 1)/m of that, the widened one all of it (up to the Monte Carlo error of B = 20,000 draws).
    from dastat.stats.predictors import _resampled_mean

    values = np.array([[0.0], [1.0], [3.0]])
    boot = _resampled_mean(values, 20_000, np.random.default_rng(9))[:, 0]
    target = values[:, 0].var(ddof=1) / 3
    # Standard error of a variance estimate from B draws: sqrt((m4 - var^2) / B), m4 the 4th central moment.
    centred = boot - boot.mean()
    se_var = math.sqrt(((centred**4).mean() - boot.var() ** 2) / boot.size)
    assert boot.var() == pytest.approx(target, abs=4 * se_var)
    assert boot.var() > (2 / 3) * target + 4 * se_var  # a plain resample would sit at (m - 1)/m of it
    assert boot.mean() == pytest.approx(values.mean(), abs=4 * math.sqrt(target / 20_000))


def _run_null_rejection(reps, seed):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        runs = _runs(rng)
        out = compare_predictors(_seed_means(runs), ["a", "b"], runs=runs, methods="pearson", n_resamples=300)
        hits += out.differences.loc[out.differences["test"] == "bootstrap_runs", "p_value"].iloc[0] < 0.05
    return hits / reps


@pytest.mark.slow
def test_run_bootstrap_keeps_its_level_when_the_difference_is_only_seed_noise():
    # 12 schemes x 3 seeds, a and b equal but for their run noise. Without the sqrt(m/(m-1))
    # widening this rejected 13% (9 schemes, 200 repetitions); with it 5.0% (300 repetitions).
    reps = 400
    assert abs(_run_null_rejection(reps, 41) - 0.05) <= _margin(0.05, reps)


def test_verdicts_name_the_better_predictor_only_where_the_difference_is_significant(result):
    _, out = result
    verdicts = out.verdicts(alpha=0.05)
    assert len(verdicts) == len(out.differences)
    significant = verdicts[verdicts["distinguishable"]]
    assert len(significant) and {"level", "teacher"} <= set(verdicts.columns)
    assert (significant["p_value"] < 0.05).all()
    assert (significant["better"] == np.where(significant["diff"] > 0, "a", "b")).all()
    assert (verdicts.loc[~verdicts["distinguishable"], "better"] == "").all()
    with pytest.raises(InvalidArgumentError, match="alpha"):
        out.verdicts(alpha=5)
