"""Does the lowest T. stddev pick the lowest-loss scheme? Regret, rank and the noise rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dastat.errors import InvalidArgumentError
from dastat.stats import load_reference, selection


def _pair(teacher, xs, ys, errs=None):
    n = len(xs)
    return pd.DataFrame({"dataset": "d", "teacher": teacher, "student": "s", "scheme": [f"s{i}" for i in range(n)],
                         "t_stddev": xs, "s_test_loss": ys,
                         "s_test_loss_err": errs if errs is not None else [np.nan] * n})


def test_regret_rank_and_fractions():
    table = pd.concat([
        _pair("good", [1, 2, 3], [0.5, 0.6, 0.7]),                       # picks the best
        _pair("near", [1, 2, 3], [0.62, 0.60, 0.7], errs=[0.01, 0.03, 0.01]),  # 2nd, within noise
        _pair("bad", [1, 2, 3], [0.9, 0.6, 0.7], errs=[0.01, 0.01, 0.01]),     # worst, outside noise
    ], ignore_index=True)
    sel = selection(table)
    pairs = sel.pairs.set_index("teacher")
    assert pairs.loc["near", "regret"] == pytest.approx(0.02)
    assert pairs.loc["near", "chosen_rank"] == 2 and pairs.loc["bad", "chosen_rank"] == 3
    assert list(pairs["within_noise"]) == [True, True, False]  # the best pick is always within noise
    assert sel.frac_best == pytest.approx(1 / 3)
    assert sel.frac_within_noise == pytest.approx(2 / 3)
    assert sel.max_regret == pytest.approx(0.3)


def test_without_errors_the_noise_rule_is_nan_for_a_wrong_pick():
    assert np.isnan(selection(_pair("x", [1, 2, 3], [0.9, 0.6, 0.7])).frac_within_noise)
    sel = selection(load_reference("paper"))
    assert sel.n_pairs == 8 and sel.frac_within_noise == 1.0
    # In every panel of the paper the lowest T. stddev (cutmixpick_t) has the lowest loss.
    assert sel.frac_best == 1.0 and (sel.pairs["chosen"] == "cutmixpick_t").all()


def test_a_tie_in_t_stddev_is_listed_not_broken_by_the_loss():
    sel = selection(_pair("tie", [1, 1, 3], [0.7, 0.5, 0.9]))
    row = sel.pairs.iloc[0]
    assert row["chosen"] == "s0" and row["chosen_tied"] == "s1"
    assert row["regret"] == pytest.approx(0.2)


def _runs(teacher, losses_by_scheme):
    return pd.DataFrame([{"dataset": "d", "teacher": teacher, "student": "s", "scheme": scheme, "seed": seed,
                          "test_loss": loss}
                         for scheme, losses in losses_by_scheme.items() for seed, loss in enumerate(losses)])


def test_with_runs_the_regret_is_judged_by_its_paired_standard_error_over_seeds():
    from scipy import stats

    # s0 (the pick) is worse than s1 by 0.02 on every seed, +-0.002: tiny paired SE although the
    # seeds differ a lot from each other (an unpaired rule would call it noise).
    picked, best = [0.52, 0.72, 0.63], [0.50, 0.70, 0.612]
    runs = pd.concat([_runs("t", {"s0": picked, "s1": best, "s2": [0.8, 0.9, 0.85]})], ignore_index=True)
    table = runs.groupby(["dataset", "teacher", "student", "scheme"], as_index=False)["test_loss"].agg(
        s_test_loss="mean", s_test_loss_err="std")
    table["t_stddev"] = [1.0, 2.0, 3.0]
    row = selection(table, runs=runs).pairs.iloc[0]
    diff = np.subtract(picked, best)
    assert row["n_seeds"] == 3 and row["noise_rule"] == "paired_se"
    assert row["regret"] == pytest.approx(diff.mean())
    assert row["regret_se"] == pytest.approx(diff.std(ddof=1) / np.sqrt(3))
    assert row["regret_p_value"] == pytest.approx(stats.ttest_rel(picked, best).pvalue)
    assert not row["within_noise"]
    assert selection(table).pairs.iloc[0]["within_noise"]  # the best's seed stddev (0.1) is generous


def test_runs_must_have_the_seed_column():
    runs = _runs("t", {"s0": [0.5], "s1": [0.4]}).drop(columns="seed")
    with pytest.raises(InvalidArgumentError, match="seed"):
        selection(_pair("t", [1, 2], [0.5, 0.4]), runs=runs)


def test_a_predictor_defined_on_some_schemes_is_judged_against_the_best_of_all():
    # Like consistency, NaN for the mixing schemes: it picks among the schemes it has, but its regret
    # is against the best of every scheme of the pair, the same yardstick as a random pick's.
    table = _pair("t", [0.1, 0.2, np.nan, np.nan], [0.50, 0.55, 0.30, 0.40])
    row = selection(table).pairs.iloc[0]
    assert row["chosen"] == "s0" and row["best"] == "s2"
    assert row["regret"] == pytest.approx(0.20) and row["chosen_rank"] == 3
    assert row["n"] == 4 and row["n_candidates"] == 2 and not row["picks_best"]


def test_within_noise_reads_the_confidence_it_is_given():
    runs = pd.DataFrame([{"dataset": "d", "teacher": "t", "student": "s", "scheme": s, "seed": k, "test_loss": v}
                         for s, values in (("s0", [0.61, 0.64, 0.60]), ("s1", [0.60, 0.60, 0.59]))
                         for k, v in enumerate(values)])
    table = _pair("t", [1, 2], [runs[runs.scheme == "s0"].test_loss.mean(), runs[runs.scheme == "s1"].test_loss.mean()])
    loose = selection(table, runs=runs, confidence=0.999).pairs.iloc[0]
    tight = selection(table, runs=runs, confidence=0.5).pairs.iloc[0]
    assert loose["regret"] == pytest.approx(0.02)
    # regret / se is about 1.73: within noise at 99.9% (z = 3.29), not at 50% (z = 0.67).
    assert loose["within_noise"] and not tight["within_noise"]
