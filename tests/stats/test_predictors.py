"""compare_predictors: per-pair and pooled head-to-head of teacher-side predictors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dastat.errors import InvalidArgumentError
from dastat.stats import compare_predictors, correlate, dependent, load_reference
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


def test_pooled_rows_are_a_fixed_effect_summary_in_r_with_a_joint_bootstrap(result):
    _, out = result
    d = out.differences
    pairs = d[(d["level"] == "pair") & (d["comparison"] == "oriented") & (d["test"] != "steiger_z")]
    pooled = d[(d["level"] == "pooled") & (d["comparison"] == "oriented")].set_index("method")
    assert set(pooled["test"]) == {"joint_bootstrap_schemes"} and (pooled["scale"] == "r").all()
    for method in ("pearson", "spearman", "kendall"):
        # Equal n per pair: the fixed-effect summary is the plain mean of the per-pair differences, in r.
        assert pooled.loc[method, "diff"] == pytest.approx(pairs.loc[pairs["method"] == method, "diff"].mean())
        assert pooled.loc[method, "ci_low"] < pooled.loc[method, "diff"] < pooled.loc[method, "ci_high"]
        assert "fixed-effect summary of these 3 pairs" in pooled.loc[method, "reason"]
    corr = out.correlations
    per_pair = corr[(corr["level"] == "pair") & (corr["method"] == "pearson") & (corr["predictor"] == "a")]
    row = corr[(corr["level"] == "pooled") & (corr["method"] == "pearson") & (corr["predictor"] == "a")].iloc[0]
    assert row["r"] == pytest.approx(per_pair["r"].mean()) and row["ci_method"] == "joint_bootstrap_percentile"
    # Three pairs cannot estimate a between-pair variance: no random-effects row.
    assert "random_effects_steiger_z" not in set(d["test"])


def test_random_effects_only_with_five_pairs_and_labelled_fisher_z():
    table = _table(np.random.default_rng(11), n_pairs=5)
    out = compare_predictors(table, ["a", "b"], methods="pearson", n_resamples=0, n_power_sims=0)
    d = out.differences
    pairs = d[(d["level"] == "pair") & (d["test"] == "williams_t") & (d["comparison"] == "oriented")]
    row = d[(d["test"] == "random_effects_steiger_z") & (d["comparison"] == "oriented")].iloc[0]
    diffs = np.arctanh(pairs["r_a"]) - np.arctanh(pairs["r_b"])
    variances = [dependent.steiger_variance(a, b, ab, n)
                 for a, b, ab, n in pairs[["r_a", "r_b", "r_ab", "n"]].itertuples(index=False)]
    meta = random_effects(diffs.to_numpy(), np.array(variances))
    assert row["scale"] == "fisher_z" and "not r" in row["reason"] and row["n_pairs"] == 5
    assert (row["diff"], row["ci_low"], row["p_value"]) == pytest.approx((meta["estimate"], meta["ci_low"],
                                                                          meta["p_value"]))


def _pooled_width(table):
    out = compare_predictors(table, ["a", "b"], methods="pearson", n_resamples=2000, n_power_sims=0)
    row = out.correlations[(out.correlations["level"] == "pooled") & (out.correlations["predictor"] == "a")].iloc[0]
    return row["ci_high"] - row["ci_low"]


def test_pairs_sharing_schemes_are_resampled_jointly_not_counted_twice():
    # Two pairs with the same schemes and nearly the same numbers carry the information of one pair:
    # resampled jointly, the pooled interval keeps the width of one pair's. Relabel the second pair's
    # schemes (as if they were other schemes) and the same numbers count as twice the points, and the
    # interval narrows by about sqrt(2): the double counting that pooling shared schemes used to do.
    rng = np.random.default_rng(12)
    one = _table(rng, n_pairs=1, n=15)
    twin = one.assign(teacher="t1", s_test_loss=one["s_test_loss"] + 0.01 * rng.standard_normal(len(one)))
    shared = _pooled_width(pd.concat([one, twin], ignore_index=True))
    apart = _pooled_width(pd.concat([one, twin.assign(scheme="other_" + twin["scheme"])], ignore_index=True))
    assert shared / apart > 1.25, (shared, apart)


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
    d = out.differences[out.differences["comparison"] == "oriented"].set_index(["predictor_a", "predictor_b", "test"])
    assert d.loc[("a", "c", "williams_t"), "diff"] == pytest.approx(0, abs=1e-12)
    assert math.isnan(d.loc[("a", "c", "williams_t"), "p_value"])
    assert "collinear" in d.loc[("a", "c", "steiger_z"), "reason"]
    assert d.loc[("a", "c", "williams_t"), "n"] == 12 and d.loc[("a", "b", "williams_t"), "n"] == 11
    assert (out.correlations["level"] == "pair").all()  # one pair: nothing to pool
    two = _table(np.random.default_rng(5), n_pairs=2)
    pooled = compare_predictors(two.assign(c=two["a"] * 3.0), ["a", "c"], methods="pearson", n_resamples=0)
    row = pooled.differences[pooled.differences["level"] == "pooled"].iloc[0]
    assert math.isnan(row["p_value"]) and "collinear" in row["reason"]


def _pooled_rejection_rate(reps, seed, r_yb):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        out = compare_predictors(_table(rng, n_pairs=4, n=15, r_ya=0.5, r_yb=r_yb, r_ab=0.5), ["a", "b"],
                                 methods="pearson", n_resamples=499, n_power_sims=0)
        d = out.differences
        hits += d.loc[(d["level"] == "pooled") & (d["comparison"] == "oriented"), "p_value"].iloc[0] < 0.05
    return hits / reps


def _margin(p, reps, z=3.5):
    return z * math.sqrt(p * (1 - p) / reps)


def test_pooled_joint_bootstrap_keeps_its_level_and_detects_a_known_difference():
    # 4 pairs of 15 schemes: under H0 (rho_ya = rho_yb) the pooled joint bootstrap rejects near 5%;
    # under rho_ya, rho_yb = 0.5, 0.1 clearly more often.
    reps = 150
    null = _pooled_rejection_rate(reps, 31, r_yb=0.5)
    assert abs(null - 0.05) <= _margin(0.05, reps)
    alt = _pooled_rejection_rate(60, 32, r_yb=0.1)
    assert alt > 0.05 + _margin(0.05, 60)


@pytest.mark.slow
def test_pooled_joint_bootstrap_level_with_more_repetitions():
    reps = 1000
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


def test_verdicts_name_the_winner_only_where_told_apart_and_print_its_difference_inside_its_interval(result):
    _, out = result
    verdicts = out.verdicts(alpha=0.05)
    assert set(verdicts["test"]) <= {"williams_t", "bootstrap_schemes", "joint_bootstrap_schemes"}
    told = verdicts[verdicts["verdict"] == "told apart"]
    assert len(told) and (told["p_holm"] < 0.05).all()
    assert (told["winner"] == np.where(told["diff"] > 0, told["predictor_a"], told["predictor_b"])).all()
    assert (verdicts.loc[verdicts["verdict"] != "told apart", "winner"] == "").all()
    # r_winner - r_loser is printed with the interval of that same difference, never of the other one.
    has = verdicts["ci_low"].notna()
    assert (verdicts.loc[has, "diff_winner"] >= 0).all()
    assert (verdicts.loc[has, "ci_low_winner"] <= verdicts.loc[has, "diff_winner"]).all()
    assert (verdicts.loc[has, "diff_winner"] <= verdicts.loc[has, "ci_high_winner"]).all()
    with pytest.raises(InvalidArgumentError, match="alpha"):
        out.verdicts(alpha=5)


def _opposite_signs(rng, n=9, n_pairs=2):
    """a follows y at about +0.9, b at about -0.85: a difference of sign, not of strength."""
    rows = []
    for pair in range(n_pairs):
        y = rng.standard_normal(n)
        a = y + 0.45 * rng.standard_normal(n)
        b = -y + 0.55 * rng.standard_normal(n)
        rows += [{"dataset": "d", "teacher": f"t{pair}", "student": "s", "scheme": f"s{i}", "s_test_loss": y[i],
                  "a": a[i], "b": b[i]} for i in range(n)]
    return pd.DataFrame(rows)


def test_a_sign_difference_is_an_oriented_difference_and_not_a_strength_difference():
    out = compare_predictors(_opposite_signs(np.random.default_rng(21)), ["a", "b"], methods="pearson,spearman",
                             n_resamples=999, n_power_sims=0)
    v = out.verdicts().set_index(["level", "teacher", "method", "comparison"])
    oriented = v.xs("oriented", level="comparison")
    strength = v.xs("strength", level="comparison")
    # Oriented: r_a - r_b is about |r_a| + |r_b| and told apart; the winner "follows its declared direction".
    assert (oriented["diff"] > 1.3).all() and (oriented["verdict"] == "told apart").all()
    # Strength: b enters with the sign that fits the data, stated; |r_a| - |r_b| is small and not told apart.
    assert (strength["sign_b"] == -1).all() and (strength["sign_a"] == 1).all()
    assert (strength["r_b"] > 0).all() and (strength["diff"].abs() < 0.3).all()
    assert (strength["verdict"] == "not told apart").all()


def test_williams_t_is_not_read_below_eight_schemes():
    table = _opposite_signs(np.random.default_rng(22), n=6, n_pairs=1)
    out = compare_predictors(table, ["a", "b"], methods="pearson", n_resamples=0, n_power_sims=0)
    rows = out.differences[out.differences["method"] == "pearson"]
    assert rows["p_value"].isna().all() and rows["reason"].str.startswith("cannot decide: 6 schemes").all()
    assert rows["ci_low"].notna().all()  # Zou's interval is still shown
    assert (out.verdicts()["verdict"] == "untested").all()


def test_the_same_points_get_the_same_interval_in_any_table():
    # Seeded by what it resamples: a pair's Spearman interval is the same alone, beside another pair,
    # with its rows shuffled, and in correlate's table and compare_predictors' (one Spearman, one interval).
    table = _table(np.random.default_rng(23), n_pairs=2)
    alone = table[table["teacher"] == "t0"]
    kw = {"methods": "spearman", "n_resamples": 500}
    one = correlate(alone, x="a", **kw)
    both = correlate(table.sample(frac=1.0, random_state=1), x="a", **kw)
    head = compare_predictors(table, ["a", "b"], n_power_sims=0, **kw).correlations
    row = head[(head["level"] == "pair") & (head["teacher"] == "t0") & (head["predictor"] == "a")].iloc[0]
    both_t0 = both[both["teacher"] == "t0"].iloc[0]
    for col in ("ci_low", "ci_high"):
        assert one[col].iloc[0] == both_t0[col] == row[col]
    diff_alone = compare_predictors(alone, ["a", "b"], n_power_sims=0, **kw).differences
    diff_both = compare_predictors(table, ["a", "b"], n_power_sims=0, **kw).differences
    pick = (diff_both["level"] == "pair") & (diff_both["teacher"] == "t0")
    assert diff_alone["ci_low"].tolist() == diff_both.loc[pick, "ci_low"].tolist()


def test_detectable_differences_are_reported_for_the_verdict_tests(result):
    _, out = result
    v = out.verdicts()
    assert v["detectable_diff"].notna().all() and (v["detectable_diff"] > 0).all()
    assert (v["detectable_diff_holm"] >= v["detectable_diff"]).all()
    pooled = v[v["level"] == "pooled"]
    assert (pooled["n_power"] == 12).all()  # 3 pairs sharing 12 schemes: 12 units, not 36
