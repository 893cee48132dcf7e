"""The study's statistics, read back from its store: correlations, pooled models, selection, floor, plateau."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dastat.errors import InvalidArgumentError
from dastat.stats import verdicts
from dastat.study.plateau import plateau_table

PAIR_KEYS = ("dataset", "teacher", "student")
# Schemes that blend two images: their x' sits between classes, which can move T. stddev below the floor.


def mixes(scheme: str) -> bool:
    """Whether a scheme's x' rows can carry another label than their own image's (mixup, cutmix, their
    parameterised forms and the compositions that hold one); a name dastat cannot build counts as not."""
    from dastat import augment
    from dastat.errors import DastatError

    try:
        return augment.get(scheme).relabels
    except DastatError:
        return False
_PROBE_COLUMNS = ["dataset", "teacher", "scheme", "protocol", "randomness", "t_stddev", "ci_low", "ci_high", "floor",
                  "t_stddev_rel", "n_sets", "teacher_acc_x", "teacher_acc_xprime", "mean_entropy_xprime",
                  "t_ce_stddev", "elapsed_s"]


@dataclass
class StudyAnalysis:
    """Tidy tables of one study (all DataFrames; ``selection`` a :class:`dastat.stats.Selection`)."""

    table: pd.DataFrame  # store.table(): one row per pair and scheme (seed means)
    correlations: pd.DataFrame  # stats.correlate per pair, three methods
    run_correlations: pd.DataFrame  # stats.correlate_runs: intervals carrying the seed noise
    pooled: pd.DataFrame  # stats.pooled across pairs
    selection: object | None
    probes: pd.DataFrame  # one row per teacher, protocol and scheme, with floor and t_stddev_rel
    floor_effect: pd.DataFrame  # per pair: how much of the ranking is schemes below the floor
    plateau: pd.DataFrame  # per student run
    scheme_effect: pd.DataFrame = field(default_factory=pd.DataFrame)  # per pair: do schemes move the loss?
    paper_correlations: pd.DataFrame = field(default_factory=pd.DataFrame)  # probes of protocol "paper"
    compute_s: dict = field(default_factory=dict)  # probe and student time recorded in the store (any run)
    predictors: list = field(default_factory=list)  # the teacher-side predictors the table holds
    comparison: object | None = None  # stats.compare_predictors over them
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)  # comparison.verdicts()
    leave_one_out: pd.DataFrame = field(default_factory=pd.DataFrame)  # leave_one_scheme_out
    predictor_regret: pd.DataFrame = field(default_factory=pd.DataFrame)  # predictor_regret
    confidence: float = 0.95  # the level of every interval and verdict above

    def write(self, out: Path, *, store, name: str) -> dict[str, Path]:
        """CSV exports, the Figure-4 grid and one ranking chart per teacher; returns their paths."""
        from dastat import plot

        out = Path(out)
        paths = {
            "students": store.export(out / "students.csv", what="students"),
            "probes": store.export(out / "probes.csv", what="probes"),
            "curves": store.export(out / "curves.csv", what="curves"),
        }
        for key in ("table", "correlations", "run_correlations", "pooled", "probes", "floor_effect", "plateau",
                    "scheme_effect", "paper_correlations", "verdicts", "leave_one_out", "predictor_regret"):
            frame = getattr(self, key)
            if key == "probes":
                key = "probe_summary"
            if frame is not None and not frame.empty:
                paths[key] = out / f"{key}.csv"
                frame.to_csv(paths[key], index=False)
        if self.comparison is not None:
            paths["predictor_correlations"] = out / "predictor_correlations.csv"
            self.comparison.correlations.to_csv(paths["predictor_correlations"], index=False)
            paths["predictor_differences"] = out / "predictor_differences.csv"
            self.comparison.differences.to_csv(paths["predictor_differences"], index=False)
        if self.selection is not None:
            paths["selection"] = out / "selection.csv"
            self.selection.pairs.to_csv(paths["selection"], index=False)
        if not self.table.empty:
            fig = plot.fig4(self.table, correlations=self.correlations if not self.correlations.empty else None)
            paths["fig4"] = plot.save_figure(fig, out / f"fig4_{name}.png")
        if self.comparison is not None:
            fig = plot.predictor_grid(self.table, self.predictors, comparison=self.comparison)
            paths["predictor_grid"] = plot.save_figure(fig, out / f"predictors_{name}.png")
        for (dataset, teacher), rows in self.probes[self.probes["protocol"] == "fast"].groupby(["dataset", "teacher"]):
            fig = plot.ranking(rows.reset_index(drop=True), title=f"{teacher} on {dataset}: T. stddev (fast)")
            paths[f"ranking_{teacher}"] = plot.save_figure(fig, out / f"ranking_{teacher}.png")
        return paths


def _latest_probes(store) -> pd.DataFrame:
    probes = store.probes()
    if probes.empty:
        return pd.DataFrame(columns=_PROBE_COLUMNS)
    probes = probes.sort_values("created_at", kind="stable")
    probes = probes.drop_duplicates(["dataset", "teacher", "scheme", "protocol", "randomness"], keep="last")
    return probes[_PROBE_COLUMNS].sort_values(["dataset", "teacher", "protocol", "t_stddev"]).reset_index(drop=True)


def floor_effect(table: pd.DataFrame, probes: pd.DataFrame) -> pd.DataFrame:
    """Per pair: which schemes sit below the label-composition floor, and the ranking without them.

    A scheme is below the floor when its interval's upper end is under the floor (``floor``,
    docs/method.md, "The floor"). The Spearman correlation is recomputed over the schemes not below
    the floor, which shows how much of the pair's ordering rests on the schemes that moved below it.
    """
    from dastat import stats

    fast = probes[probes["protocol"] == "fast"][["dataset", "teacher", "scheme", "floor", "t_stddev_rel", "ci_high"]]
    # The latest fast probe's floor, not table()'s mean over probes: drop the table's own copies.
    merged = table.drop(columns=["floor", "t_stddev_rel"], errors="ignore").merge(
        fast, on=["dataset", "teacher", "scheme"], how="left")
    rows = []
    for keys, group in merged.groupby(list(PAIR_KEYS)):
        below = group[group["ci_high"] < group["floor"]]
        above = group[~(group["ci_high"] < group["floor"])]
        r_all = _spearman(stats, group)
        r_above = _spearman(stats, above)
        rows.append({
            **dict(zip(PAIR_KEYS, keys)), "n": len(group), "floor": float(group["floor"].mean()),
            "n_below_floor": len(below), "below_floor": ";".join(below["scheme"]),
            "n_mixing_below": sum(map(mixes, below["scheme"])),
            "rel_min": float(group["t_stddev_rel"].min()), "rel_max": float(group["t_stddev_rel"].max()),
            "spearman_all": r_all, "n_above": len(above), "spearman_above_floor": r_above,
            "loss_below_mean": float(below["s_test_loss"].mean()) if len(below) else math.nan,
            "loss_above_mean": float(above["s_test_loss"].mean()) if len(above) else math.nan,
        })
    return pd.DataFrame(rows)


def scheme_effect(students: pd.DataFrame) -> pd.DataFrame:
    """Per pair: do the schemes move the students' test loss beyond the seed-to-seed noise?

    Every scheme trained with a seed sees that seed's data order and base augmentation, so the seed is
    a block: the test is the scheme term of a two-way ANOVA without interaction, ``test_loss ~ scheme +
    seed`` (``f``, ``p_value``; type-II sums of squares, so missing runs are allowed). ``signal_to_noise``
    = sd of the scheme means / (residual sd / sqrt(median runs per scheme)). Near or below 1, the
    schemes' student losses are not told apart at this number of seeds, and no T. stddev ranking can
    correlate with them beyond chance.
    """
    import statsmodels.api as sm
    from statsmodels.formula.api import ols

    rows = []
    for keys, group in students.groupby(list(PAIR_KEYS)):
        frame = pd.DataFrame({"loss": group["test_loss"].astype(float), "scheme": group["scheme"].astype(str),
                              "seed": group["seed"].astype(str)})
        means = frame.groupby("scheme")["loss"].mean()
        per_scheme = float(frame.groupby("scheme").size().median())
        f = p_value = residual_sd = math.nan
        terms = "C(scheme) + C(seed)" if frame["seed"].nunique() > 1 else "C(scheme)"
        if len(means) > 1 and len(frame) > len(means) + frame["seed"].nunique() - 1:
            fit = ols(f"loss ~ {terms}", data=frame).fit()
            table = sm.stats.anova_lm(fit, typ=2)
            f, p_value = float(table.loc["C(scheme)", "F"]), float(table.loc["C(scheme)", "PR(>F)"])
            residual_sd = math.sqrt(float(fit.mse_resid))
        spread = float(means.std(ddof=1)) if len(means) > 1 else math.nan
        noise = residual_sd / math.sqrt(per_scheme)
        rows.append({**dict(zip(PAIR_KEYS, keys)), "n_schemes": len(means), "n_runs": len(frame),
                     "n_seeds": frame["seed"].nunique(), "sd_scheme_means": spread, "residual_sd": residual_sd,
                     "signal_to_noise": spread / noise if noise > 0 else math.nan, "f": f, "p_value": p_value})
    return pd.DataFrame(rows)


def _oriented(table: pd.DataFrame, predictor: str, signs: dict[str, int] | None) -> np.ndarray:
    from dastat.stats.predictors import declared_sign

    return declared_sign(predictor, signs) * pd.to_numeric(table[predictor], errors="coerce").to_numpy(float)


def leave_one_scheme_out(table: pd.DataFrame, predictors: list[str], *, y: str = "s_test_loss",
                         methods: tuple[str, ...] = ("pearson", "spearman"), signs: dict[str, int] | None = None,
                         alpha: float = 0.05) -> pd.DataFrame:
    """Per pair, predictor and method: does one scheme carry the correlation?

    Each scheme is dropped in turn and the (oriented, as in :func:`dastat.stats.compare_predictors`)
    correlation recomputed over the rest. ``r_min``/``r_max`` span those n values, ``p_max`` is the
    largest of their p-values, ``pivot`` the scheme whose removal moves r furthest towards zero (or
    across it). ``carried_by`` names it when the correlation over all schemes has p < ``alpha`` and
    without that one scheme it changes sign or keeps less than half its size; "" otherwise. (Losing
    significance alone is not enough: one point fewer costs power even where r does not move.)
    """
    from dastat import stats

    rows = []
    for keys, group in table.groupby(list(PAIR_KEYS)):
        yv = pd.to_numeric(group[y], errors="coerce").to_numpy(float)
        names = group["scheme"].astype(str).to_numpy()
        for predictor in predictors:
            xv = _oriented(group, predictor, signs)
            keep = np.isfinite(xv) & np.isfinite(yv)
            x, yk, nk = xv[keep], yv[keep], names[keep]
            for method in methods:
                row = {**dict(zip(PAIR_KEYS, keys)), "predictor": predictor, "method": method, "n": len(x)}
                full = stats.correlation(x, yk, method=method, n_resamples=0)
                drops = [stats.correlation(np.delete(x, i), np.delete(yk, i), method=method, n_resamples=0)
                         for i in range(len(x))] if len(x) > 3 else []
                rs = np.array([d.r for d in drops], float)
                if not math.isfinite(full.r) or not len(rs) or not np.isfinite(rs).any():
                    rows.append({**row, "r": full.r, "p_value": full.p_value, "r_min": math.nan, "r_max": math.nan,
                                 "p_max": math.nan, "pivot": "", "r_without_pivot": math.nan, "carried_by": ""})
                    continue
                pivot = int(np.nanargmin(np.sign(full.r) * rs))
                p_drop = np.array([d.p_value for d in drops], float)
                without = drops[pivot]
                shrinks = np.sign(without.r) != np.sign(full.r) or abs(without.r) < 0.5 * abs(full.r)
                carried = full.p_value < alpha and shrinks
                rows.append({**row, "r": full.r, "p_value": full.p_value, "r_min": float(np.nanmin(rs)),
                             "r_max": float(np.nanmax(rs)), "p_max": float(np.nanmax(p_drop)),
                             "pivot": str(nk[pivot]), "r_without_pivot": without.r,
                             "carried_by": str(nk[pivot]) if carried else ""})
    return pd.DataFrame(rows)


def predictor_regret(table: pd.DataFrame, predictors: list[str], *, runs: pd.DataFrame | None = None,
                     signs: dict[str, int] | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """The selection of every predictor: the scheme its lowest (oriented) value picks, and the regret.

    One :func:`dastat.stats.selection` per predictor (its ``pairs`` rows with a ``predictor`` column),
    plus ``regret_ci_low``/``regret_ci_high`` (regret ± z paired standard errors over the shared
    seeds, z from ``confidence``) and ``random_regret``: the expected regret of a scheme drawn at
    random (mean loss − lowest). Every regret, the random one included, is measured against the
    best of all the pair's schemes, also for a predictor defined on fewer of them (``consistency``
    is NaN for mixing schemes and picks among the rest).
    A predictor that is constant within a pair (e.g. the floor where every scheme shares it) picks
    nothing there and has no row.
    """
    from dastat import stats

    frames = []
    for predictor in predictors:
        oriented = table.assign(_x=_oriented(table, predictor, signs))
        varies = oriented.groupby(list(PAIR_KEYS))["_x"].transform("nunique") > 1
        if not varies.any():
            continue
        pairs = stats.selection(oriented[varies], x="_x", runs=runs, confidence=confidence).pairs
        if pairs.empty:
            continue
        frames.append(pairs.assign(predictor=predictor))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    half = verdicts.critical_value(confidence) * out["regret_se"]
    out["regret_ci_low"], out["regret_ci_high"] = out["regret"] - half, out["regret"] + half
    losses = table.groupby(list(PAIR_KEYS))["s_test_loss"].agg(["mean", "min"])
    random = (losses["mean"] - losses["min"]).rename("random_regret").reset_index()
    out = out.merge(random, on=list(PAIR_KEYS), how="left")
    first = [*PAIR_KEYS, "predictor"]
    return out[first + [c for c in out.columns if c not in first]]


def _spearman(stats, frame: pd.DataFrame) -> float:
    if len(frame) < 3:
        return math.nan
    return float(stats.correlation(frame["t_stddev"].to_numpy(float), frame["s_test_loss"].to_numpy(float),
                                   method="spearman", n_resamples=0).r)


def analyse(store, *, protocols=("fast",), quick: bool = False, seed: int = 0,
            confidence: float = 0.95) -> StudyAnalysis:
    """Every table of the report from a study's store.

    Parameters
    ----------
    store : dastat.store.Store
    protocols : sequence of str
        Probe protocols present; the fast protocol drives the main analysis, ``paper`` gets its own
        correlation table.
    quick : bool
        Fewer resamples (CI runs); the numbers are then rougher but computed the same way.
    seed : int
        Seeds the bootstraps and permutation tests.
    confidence : float
        The level of every interval; verdicts are read at 1 - confidence.
    """
    from dastat import stats
    from dastat.stats.predictors import available_predictors

    n_resamples = 200 if quick else 9999
    main = "fast" if "fast" in protocols else protocols[0]
    randomness = "sample" if main == "fast" else "batch"
    table = store.table(protocol=main, randomness=randomness, set_size=None)
    probes = _latest_probes(store)
    empty = pd.DataFrame()
    students = store.students()
    # The selection's seeds come from the students the table joined: the probes' randomness, or unknown.
    chosen = students[students["randomness"].isna() | (students["randomness"] == randomness)] \
        if "randomness" in students else students
    predictors: list[str] = []
    comparison, verdict_table, loo, regret = None, empty, empty, empty
    if table.empty:
        correlations = run_correlations = pooled = empty
        selection = None
    else:
        correlations = stats.correlate(table, by=PAIR_KEYS, n_resamples=n_resamples, seed=seed,
                                       confidence=confidence)
        runs = store.runs()
        runs = runs[(runs["kind"] == "student") | (runs["protocol"] == main)]
        run_correlations = stats.correlate_runs(runs, by=PAIR_KEYS, n_resamples=min(n_resamples, 2000), seed=seed,
                                                confidence=confidence)
        try:
            pooled = stats.pooled(table, by=PAIR_KEYS, standardize=True, confidence=confidence,
                                  n_resamples=n_resamples, seed=seed)
        except InvalidArgumentError as err:  # too few points to pool: say so in the table, not as a failure
            pooled = pd.DataFrame([{"model": "pooled", "term": "slope", "estimate": math.nan, "reason": str(err)}])
        selection = stats.selection(table, by=PAIR_KEYS, runs=chosen, confidence=confidence)
        predictors = available_predictors(table)
        if len(predictors) >= 2:
            # The same resamples as correlate: one Spearman, one interval, in every section.
            comparison = stats.compare_predictors(table, predictors, by=PAIR_KEYS, runs=runs,
                                                  n_resamples=n_resamples, seed=seed, confidence=confidence)
            verdict_table = comparison.verdicts(alpha=1 - confidence)
        loo = leave_one_scheme_out(table, predictors)
        regret = predictor_regret(table, predictors, runs=chosen, confidence=confidence)
    paper = empty
    if "paper" in protocols and main != "paper":
        paper_table = store.table(protocol="paper", randomness="batch", set_size=None)
        if not paper_table.empty:
            paper = stats.correlate(paper_table, by=PAIR_KEYS, n_resamples=n_resamples, seed=seed,
                                    confidence=confidence)
    plateau = plateau_table(students, store.curves()) if not students.empty else empty
    floor = floor_effect(table, probes) if not table.empty else empty
    return StudyAnalysis(table=table, correlations=correlations, run_correlations=run_correlations, pooled=pooled,
                         selection=selection, probes=probes, floor_effect=floor, plateau=plateau,
                         paper_correlations=paper, compute_s=_compute_s(probes, students),
                         predictors=predictors, comparison=comparison, verdicts=verdict_table, leave_one_out=loo,
                         predictor_regret=regret, confidence=confidence,
                         scheme_effect=scheme_effect(students) if not students.empty else empty)


def _compute_s(probes: pd.DataFrame, students: pd.DataFrame) -> dict[str, float]:
    """Seconds the store's probes and student runs took, whichever run of the study made them.

    A ranking probes its schemes jointly and records the joint time with each of them, so it counts once.
    """
    probe_s = 0.0
    if not probes.empty and "elapsed_s" in probes:
        probe_s = float(probes.groupby(["dataset", "teacher", "protocol"])["elapsed_s"].max().sum())
    student_s = float(students["elapsed_s"].sum()) if not students.empty else 0.0
    return {"probes": probe_s, "students": student_s, "student_runs": len(students)}


__all__ = ["StudyAnalysis", "analyse", "floor_effect", "leave_one_scheme_out", "predictor_regret",
           "scheme_effect"]
