"""``report.md``: the study's tables, figure and a reading of what they say, written from its numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from dastat.stats import verdicts as vocab


def _f(value, fmt: str = "{:.4g}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def _markdown(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    """A GitHub table (no tabulate dependency)."""
    if frame.empty:
        return "_(none)_"
    formats = formats or {}
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        cells = []
        for col, value in zip(cols, row):
            if isinstance(value, float):
                cells.append(_f(value, formats.get(col, "{:.4g}")))
            else:
                cells.append("–" if value is None else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def correlation_words(r: float, ci_low: float, ci_high: float, p_value: float = 0.0, *,
                      alpha: float = 0.05) -> str:
    """One correlation read from its interval and test: strength and direction only where both agree.

    An interval that covers zero (or is missing) reads as a null at this n, whatever the estimate;
    an estimate of |r| >= 0.3 then says which way it leans, without a strength word. An interval
    that excludes zero next to a test that does not reject (``p_value`` >= ``alpha``) is weak
    evidence. The strength word is that of the interval's end nearest zero
    (:func:`dastat.stats.verdicts.strength`), not of the estimate.
    """
    if not vocab.excludes_zero(ci_low, ci_high):
        if math.isnan(ci_low) or math.isnan(ci_high):
            return "no interval, so no reading"
        text = f"a null at this n (the interval covers zero, from {ci_low:+.2f} to {ci_high:+.2f})"
        if abs(r) >= 0.3:
            text += (f"; the estimate leans {'the paper' if r > 0 else 'against the paper'}'s way, "
                     "which these data cannot confirm")
        return text
    direction = "in the paper's direction" if r > 0 else "against the paper's direction"
    if not p_value < alpha:
        return (f"weak evidence of a correlation {direction}: the interval excludes zero but the test does not "
                f"reject a zero correlation (p = {_f(p_value, '{:.3g}')})")
    near = ci_low if r > 0 else ci_high
    return (f"a correlation {direction}, {vocab.strength(ci_low, ci_high)} at the least (the interval excludes "
            f"zero; its end nearest zero is {near:+.2f})")


def _rank_direction(sp, alpha: float = 0.05) -> str | None:
    """``"paper"`` or ``"reversed"`` where a Spearman row claims a direction (its interval excludes zero and
    its permutation test rejects), else None."""
    if not (vocab.excludes_zero(sp.ci_low, sp.ci_high) and sp.p_perm < alpha):
        return None
    return "paper" if sp.r > 0 else "reversed"


def pair_reading(sp, pe, alpha: float = 0.05) -> str:
    """The reading of one pair's Spearman and Pearson rows (r, ci_low, ci_high, p_value, p_perm).

    Spearman is read with its permutation test (exact at n <= 9), Pearson with its t-test; a
    direction is claimed only where the rank interval excludes zero and the permutation test rejects.
    """
    rank = _rank_direction(sp, alpha) is not None
    linear = vocab.excludes_zero(pe.ci_low, pe.ci_high) and pe.p_value < alpha
    text = (f"Spearman {sp.r:+.3f} [{sp.ci_low:+.3f}, {sp.ci_high:+.3f}] (p = {_f(sp.p_value, '{:.3g}')}, "
            f"permutation p = {_f(sp.p_perm, '{:.3g}')}): "
            f"{correlation_words(sp.r, sp.ci_low, sp.ci_high, sp.p_perm, alpha=alpha)}. "
            f"Pearson {pe.r:+.3f} [{pe.ci_low:+.3f}, {pe.ci_high:+.3f}] (p = {_f(pe.p_value, '{:.3g}')}): "
            f"{correlation_words(pe.r, pe.ci_low, pe.ci_high, pe.p_value, alpha=alpha)}. ")
    if rank:
        text += ("T. stddev orders the students' test losses in the paper's direction (lower T. stddev, lower loss)."
                 if sp.r > 0 else "T. stddev orders them against the paper's claim (lower T. stddev, *higher* loss).")
    elif linear:
        text += ("Only the linear correlation is clear: it can rest on a few schemes far from the rest "
                 "(see the leave-one-scheme-out check).")
    else:
        text += "T. stddev's order of the students is not told apart from no order here."
    if not vocab.excludes_zero(sp.ci_low, sp.ci_high) and sp.p_perm < alpha:
        text += (f" The permutation test alone rejects no correlation (p = {sp.p_perm:.3g}) while the bootstrap "
                 "interval covers zero: weak evidence at this n.")
    return text


def teacher_quality(acc1: float, num_classes: int | None) -> str:
    """How good a teacher's test top-1 (%) is, read against chance (100 / classes) and against perfect.

    ``at chance`` within twice the chance rate of it; ``near-perfect`` when the error is under a tenth
    of chance's error; ``weak`` under halfway between chance and perfect; ``good`` otherwise.
    """
    if math.isnan(acc1):
        return "unevaluated"
    chance = 100.0 / num_classes if num_classes else 0.0
    if num_classes and acc1 <= 2 * chance:
        return "at chance"
    error, chance_error = 100.0 - acc1, 100.0 - chance
    if error < 0.1 * chance_error:
        return "near-perfect"
    return "weak" if acc1 < chance + 0.5 * chance_error else "good"


def _reading(analysis, config) -> list[str]:
    lines = []
    corr = analysis.correlations
    if corr.empty:
        return ["No pair has both probes and finished students yet: nothing to read."]
    # A study of several distillation methods reads each method's students on their own.
    keys_of = ["dataset", "teacher", "student", *(["kd_method"] if "kd_method" in corr.columns else [])]
    for keys, group in corr.groupby(keys_of):
        pair = f"{keys[1]} → {keys[2]}" + (f", {keys[3]}" if len(keys) > 3 else "")
        by = {row.method: row for row in group.itertuples(index=False)}
        sp, pe = by.get("spearman"), by.get("pearson")
        if sp is None or pe is None or math.isnan(sp.r):
            lines.append(f"- **{pair}**: too few schemes for a correlation ({group['n'].iloc[0]}).")
            continue
        lines.append(f"- **{pair}** (n = {sp.n} schemes): " + pair_reading(sp, pe, 1 - analysis.confidence))
    rc = analysis.run_correlations
    if not rc.empty:
        sp = rc[rc["method"] == "spearman"]
        if not sp.empty:
            parts = [f"{r.teacher} → {r.student}: {r.frac_same_sign:.0%}" for r in sp.itertuples(index=False)
                     if not math.isnan(r.frac_same_sign)]
            if parts:
                lines.append("- Resampling the seeds behind each point (run bootstrap), the Spearman sign holds in "
                             + "; ".join(parts) + " of resamples.")
    sel = analysis.selection
    if sel is not None and not sel.pairs.empty:
        picks = [f"{r.teacher} → {r.student}: picks {r.chosen} (rank {r.chosen_rank} of {r.n}; best {r.best}, "
                 f"regret {_regret_text(r.regret, r.regret_se, analysis.confidence)})"
                 for r in sel.pairs.itertuples(index=False)]
        lines.append("- Selection (lowest T. stddev as the choice): " + "; ".join(picks) + ".")
    fe = analysis.floor_effect
    for r in fe.itertuples(index=False):
        below = r.below_floor.replace(";", ", ") or "none"
        text = (f"- Floor, {r.teacher} → {r.student}: T. stddev / floor spans {r.rel_min:.3f} to {r.rel_max:.3f}; "
                f"below the floor (interval under it): {below} ({r.n_mixing_below} of them mixing schemes). ")
        if r.n_below_floor and not math.isnan(r.spearman_above_floor):
            text += (f"Spearman over all schemes {r.spearman_all:+.3f}, over the {r.n_above} at or above the floor "
                     f"{r.spearman_above_floor:+.3f}: ")
            drop = abs(r.spearman_all) - abs(r.spearman_above_floor)
            if abs(r.spearman_all) < 0.1:
                text += "with no ordering overall, there is none for the floor to explain."
            else:
                text += ("most of the ordering comes from the schemes below the floor." if drop > 0.3
                         else "the ordering does not rest mainly on them.")
                if r.n_above < 5:
                    text += f" (Only {r.n_above} schemes at or above the floor: a rough check.)"
        lines.append(text)
    return lines


def _regret_text(regret: float, se: float, confidence: float) -> str:
    """A regret with its paired interval (regret ± z SE over the shared seeds, z from ``confidence``)."""
    if regret == 0:
        return "0 (the best scheme)"
    if not math.isfinite(se):
        return f"{regret:.4f}"
    half = vocab.critical_value(confidence) * se
    return f"{regret:.4f} [{regret - half:+.4f}, {regret + half:+.4f}]"


def _r_ci(r: float, low: float, high: float) -> str:
    return "–" if math.isnan(r) else f"{r:+.2f} [{_f(low, '{:+.2f}')}, {_f(high, '{:+.2f}')}]"


def _where(frame: pd.DataFrame) -> list[str]:
    """Each row's pair as "teacher → student", or "pooled"."""
    return [("pooled" if row.level == "pooled" else f"{row.teacher} → {row.student}")
            for row in frame.itertuples(index=False)]


def predictor_table(correlations: pd.DataFrame) -> pd.DataFrame:
    """One row per pair (and pooled) and predictor: Pearson and Spearman, each as ``r [low, high]``."""
    frame = correlations[correlations["method"].isin(["pearson", "spearman"])]
    frame = frame.assign(where=_where(frame), cell=[_r_ci(r.r, r.ci_low, r.ci_high)
                                                    for r in frame.itertuples(index=False)])
    wide = frame.pivot_table(index=["where", "predictor"], columns="method", values="cell", aggfunc="first",
                             sort=False).reset_index()
    wide.columns.name = None
    return wide


def _tested(family: pd.DataFrame, column: str) -> pd.Series:
    """A family's detectable differences over its tested comparisons; inf where none reaches 80% power."""
    return family.loc[family["p_value"].notna(), column].fillna(math.inf)


def _span(values: pd.Series) -> str:
    """The range of detectable differences, with how many comparisons reach 80% power at no difference."""
    finite = values[np.isfinite(values)]
    none = len(values) - len(finite)
    text = "–" if finite.empty else (f"{finite.min():.2f}" if finite.min() == finite.max()
                                     else f"{finite.min():.2f}–{finite.max():.2f}")
    return text + (f" ({none} none)" if none else "")


def _median(values: pd.Series) -> str:
    middle = float(np.median(values)) if len(values) else math.nan
    return "none" if middle == math.inf else _f(middle, "{:.2f}")


def _families(verdicts: pd.DataFrame):
    frame = verdicts.assign(where=_where(verdicts))
    return frame.groupby(["where", "method", "comparison"], sort=False)


def head_to_head_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per family (pair or pooled, method, comparison): how many differences were tested and told
    apart, how many cannot be decided, and the differences the test could detect with 80% power."""
    rows = []
    for (where, method, comparison), family in _families(verdicts):
        rows.append({"where": where, "method": method, "comparison": comparison, "test": family["test"].iloc[0],
                     "n": int(family["n_power"].max()) if family["n_power"].notna().any() else int(family["n"].max()),
                     "tested": int(family["m"].max()), "told_apart": int((family["verdict"] == vocab.TOLD_APART).sum()),
                     "cannot_decide": int((family["verdict"] == vocab.CANNOT_DECIDE).sum()),
                     "untested": int((family["verdict"] == vocab.UNTESTED).sum()),
                     "detectable": _span(_tested(family, "detectable_diff")),
                     "detectable_holm": _span(_tested(family, "detectable_diff_holm"))})
    return pd.DataFrame(rows)


def _told_apart(family: pd.DataFrame) -> str:
    told = family[family["verdict"] == vocab.TOLD_APART]
    return "; ".join(
        f"{vocab.comparison_words(r.comparison, r.winner, r.loser)} (r_{r.winner} − r_{r.loser} = "
        f"{r.diff_winner:+.2f} [{r.ci_low_winner:+.2f}, {r.ci_high_winner:+.2f}], p_holm = {r.p_holm:.2g})"
        for r in told.itertuples(index=False))


def predictor_lines(verdicts: pd.DataFrame, correlations: pd.DataFrame, *, alpha: float = 0.05) -> list[str]:
    """Per family, which predictors are told apart after Holm's adjustment, and what a null means at this n."""
    if verdicts.empty:
        return ["No two predictors could be compared (fewer than two predictors with values)."]
    lines = []
    for (where, method, comparison), family in _families(verdicts):
        m = int(family["m"].max())
        told = int((family["verdict"] == vocab.TOLD_APART).sum())
        text = f"- {where}, {method}, {comparison} ({family['test'].iloc[0]}): "
        text += (f"{told} of {m} tested differences told apart after Holm's adjustment: " + _told_apart(family)
                 if told else f"none of the {m} tested differences is told apart after Holm's adjustment")
        near = int(((family["p_value"] < alpha) & (family["verdict"] == vocab.NOT_TOLD_APART)).sum())
        if near:
            text += f" ({near} more only before the adjustment for {m} comparisons)"
        undecided = int((family["verdict"] == vocab.CANNOT_DECIDE).sum())
        if undecided:
            text += f"; {undecided} cannot be decided (Williams' t and Steiger's z disagree)"
        untested = int((family["verdict"] == vocab.UNTESTED).sum())
        if untested:
            text += f"; {untested} without a test (collinear predictors, or too few schemes)"
        holm, raw = _tested(family, "detectable_diff_holm"), _tested(family, "detectable_diff")
        if len(holm):
            needed = _median(holm)
            needed = ("more than the predictors' own correlation allows, for most of them" if needed == "none"
                      else f"{needed} (median over the tested comparisons)")
            text += (f". Power: 80% power after Holm's adjustment needs a true difference of {needed}; range "
                     f"{_span(holm)}; at α = {alpha:g} alone {_median(raw)}. Smaller differences are not detectable "
                     "at this n")
        lines.append(text + ".")
    spearman = correlations[correlations["method"] == "spearman"]
    for where, rows in spearman.assign(where=_where(spearman)).groupby("where", sort=False):
        ok = [r.predictor for r in rows.itertuples(index=False) if vocab.excludes_zero(r.ci_low, r.ci_high)]
        lines.append(f"- {where}: predictors whose Spearman interval excludes zero: "
                     + (", ".join(ok) if ok else "none (a null for every predictor)") + ".")
    return lines


def orientation_table(correlations: pd.DataFrame) -> pd.DataFrame:
    """Per predictor: its declared sign, and in each pair the sign that fits the data (Pearson)."""
    corr = correlations[(correlations["method"] == "pearson") & (correlations["level"] == "pair")]
    rows = []
    for predictor, group in corr.groupby("predictor", sort=False):
        fitted = ["–" if not math.isfinite(r.r) else ("declared" if r.r >= 0 else "reversed")
                  for r in group.itertuples(index=False)]
        rows.append({"predictor": predictor, "declared_sign": int(group["sign"].iloc[0]),
                     **{w: f for w, f in zip(_where(group), fitted)}})
    return pd.DataFrame(rows)


def loo_lines(loo: pd.DataFrame) -> list[str]:
    """Per pair, whether one scheme carries T. stddev's correlation, and which predictors' correlations it carries."""
    lines = []
    for (teacher, student), rows in loo.groupby(["teacher", "student"], sort=False):
        t = rows[(rows["predictor"] == "t_stddev") & (rows["method"] == "spearman")]
        carried = rows[rows["carried_by"] != ""]
        text = f"- {teacher} → {student}: "
        if len(t) and math.isfinite(t["r_min"].iloc[0]):
            r = t.iloc[0]
            text += (f"dropping any one scheme leaves T. stddev's Spearman between {r.r_min:+.2f} and {r.r_max:+.2f} "
                     f"(all schemes {r.r:+.2f}, p = {r.p_value:.3g}; largest p without one scheme {r.p_max:.3g}, "
                     f"without {r.pivot}). ")
        text += ("No predictor's correlation with p < 0.05 rests on one scheme." if carried.empty else
                 "Correlations with p < 0.05 that one scheme carries (without it r flips sign or halves): "
                 + "; ".join(f"{r.predictor} {r.method} by {r.carried_by} ({r.r:+.2f} → {r.r_without_pivot:+.2f})"
                             for r in carried.itertuples(index=False)) + ".")
        lines.append(text)
    return lines


def regret_lines(regret: pd.DataFrame, confidence: float = 0.95) -> list[str]:
    """Per predictor: picks, regrets with intervals, against a scheme drawn at random (same yardstick)."""
    lines = []
    for predictor, rows in regret.groupby("predictor", sort=False):
        parts = [f"{r.teacher} → {r.student} picks {r.chosen} (among {r.n_candidates} schemes; rank {r.chosen_rank} "
                 f"of all {r.n}), regret {_regret_text(r.regret, r.regret_se, confidence)} vs "
                 f"{r.random_regret:.4f} for a random scheme"
                 for r in rows.itertuples(index=False)]
        within = rows["within_noise"].dropna()
        lines.append(f"- {predictor}: " + "; ".join(parts)
                     + (f"; within seed noise in {int(within.astype(bool).sum())} of {len(within)} pairs."
                        if len(within) else "."))
    return lines


def _predictor_section(analysis, exports: dict[str, Path]) -> list[str]:
    comparison = analysis.comparison
    if comparison is None:
        return []
    corr, level = comparison.correlations, f"{analysis.confidence:.0%}"
    alpha = 1 - analysis.confidence
    lines = ["## Which predictor", "",
             f"The teacher-side predictors of the store ({', '.join(analysis.predictors)}), each with the orientation "
             "declared for it in advance (docs/method.md, \"Teacher-side predictors\"), so that r > 0 means \"a lower "
             f"value goes with a lower student loss, as declared\", with {level} intervals (Pearson: Fisher z; "
             "Spearman: BCa bootstrap over schemes, the same numbers as in the correlation table above). Pooled rows "
             "are a fixed-effect summary of these pairs: the per-pair coefficients averaged with weights n, the "
             "schemes resampled jointly across pairs (the pairs share them).", "",
             _markdown(predictor_table(corr)), "",
             "Which way each predictor went, against its declared orientation (Pearson, per pair):", "",
             _markdown(orientation_table(corr)), "",
             "### Head to head", "",
             "Every two predictors are compared twice, each comparison with its own test and Holm family (one "
             "family per pair or pool, method and comparison). **Oriented**: r_a − r_b with the declared signs, "
             "\"which one follows its declared direction more closely\"; two predictors of opposite observed signs "
             "differ here by about |r_a| + |r_b|, a difference of sign. **Strength**: |r_a| − |r_b|, each predictor "
             "in the direction that fits the data (stated in `sign_a`/`sign_b` of `verdicts.csv`): \"which one "
             "orders the losses more closely\". Tests: Williams' t per pair (Pearson; not read below 8 schemes, and "
             "\"cannot decide\" where Steiger's z disagrees), a bootstrap over schemes (Spearman), a joint "
             f"bootstrap pooled. `detectable` is the smallest true difference the test finds with 80% power at "
             f"α = {alpha:g}, `detectable_holm` at α / (tested comparisons), simulated from each comparison's "
             "observed correlations (Williams' t; the rank bootstrap has no more power; pooled at n = the distinct "
             "schemes); \"none\": no difference that the predictors' own correlation allows reaches 80%.", "",
             _markdown(head_to_head_table(analysis.verdicts)), "",
             *predictor_lines(analysis.verdicts, corr, alpha=alpha), ""]
    if "predictor_grid" in exports:
        lines += [f"![Predictors against student loss]({exports['predictor_grid'].name})", ""]
    if not analysis.leave_one_out.empty:
        lines += ["### Leave one scheme out", "", "Does one scheme carry the correlation? Each scheme is dropped in "
                  "turn and the correlation recomputed over the others.", "", *loo_lines(analysis.leave_one_out), "",
                  _markdown(analysis.leave_one_out.drop(columns=["dataset"], errors="ignore"),
                            {"r": "{:+.3f}", "r_min": "{:+.3f}", "r_max": "{:+.3f}", "r_without_pivot": "{:+.3f}",
                             "p_value": "{:.3g}", "p_max": "{:.3g}"}), ""]
    if not analysis.predictor_regret.empty:
        z = vocab.critical_value(analysis.confidence)
        lines += ["### Selection regret of every predictor", "",
                  "Each predictor picks the scheme with its lowest oriented value among the schemes it has a value "
                  "for; the regret is that scheme's mean student loss minus the lowest of all the pair's schemes, "
                  f"with a paired {level} interval over the seeds (regret ± {z:.2f} SE). The best scheme is itself "
                  "picked from noisy means, so regrets are biased up by a similar amount for every predictor; a "
                  "scheme drawn at random would cost the mean loss minus the lowest.", "",
                  *regret_lines(analysis.predictor_regret, analysis.confidence), ""]
    return lines


def power_lines(verdicts: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """The discussion's power statement: what the strength comparison of each pair could detect at its n."""
    if verdicts.empty or "detectable_diff_holm" not in verdicts:
        return []
    rows = verdicts[(verdicts["method"] == "pearson") & (verdicts["comparison"] == "strength")]
    parts = []
    for where, family in rows.assign(where=_where(rows)).groupby("where", sort=False):
        raw, holm = _tested(family, "detectable_diff"), _tested(family, "detectable_diff_holm")
        if raw.empty:
            continue
        parts.append(f"{where} (n = {int(family['n_power'].max())} schemes): |r| differences of {_median(raw)} "
                     f"(median; {_span(raw)}) at α = {alpha:g} alone, {_median(holm)} after Holm over "
                     f"{int(family['m'].max())} comparisons ({_span(holm)})")
    if not parts:
        return []
    return ["- **Power of the head-to-head.** The smallest strength difference Williams' t detects with 80% power, "
            "simulated from each comparison's observed correlations: " + "; ".join(parts) + ". A predictor "
            "comparison that is not told apart reads \"not detectable at this n\", not \"equal\"."]


def _teacher_line(best: float, num_classes: int | None) -> str:
    quality = teacher_quality(best, num_classes)
    classes = f"{num_classes} classes" if num_classes else "this task"
    chance = f", chance {100 / num_classes:.2f}%" if num_classes else ""
    if quality == "near-perfect":
        return (f"- **Near-perfect teachers** (best teacher test top-1 {best:.2f}% on {classes}{chance}). With "
                "teachers that are almost one-hot on clean images, T. stddev of the non-mixing schemes is close to "
                "the label-composition floor (the value a perfect one-hot teacher would get from the labels alone), "
                "so their T. stddev differences are small next to their intervals and say little about the "
                "teacher's information; the spread comes mostly from the mixing schemes, which move the teacher's "
                "outputs between classes.")
    if quality in ("at chance", "unevaluated"):
        return (f"- **Teachers {quality}** (best teacher test top-1 {best:.2f}% on {classes}{chance}). A teacher "
                "that has not learnt the task says nothing about augmentations through its T. stddev, and its "
                "students learn little from it: train the teacher longer before reading any correlation.")
    return (f"- **{quality.capitalize()} teachers** (best teacher test top-1 {best:.2f}% on {classes}{chance}). "
            "T. stddev reads the teacher's outputs, so how much it can say grows with how much the teacher knows.")


def _few_points_line(correlations: pd.DataFrame, num_schemes: int) -> str:
    """How wide n schemes leave any correlation: the |r| a t test needs for p < 0.05 at the panels' n."""
    from scipy import stats

    n = int(correlations["n"].max()) if "n" in correlations and len(correlations) else num_schemes
    if n < 3:
        return f"- **Few points per panel.** {n} schemes per pair cannot give a correlation any interval."
    t = stats.t.ppf(0.975, n - 2)
    return (f"- **Few points per panel.** {n} schemes per pair give wide intervals for any correlation (at n = {n} "
            f"a correlation of about {t / math.sqrt(n - 2 + t * t):.2f} is needed for p < 0.05).")


def _discussion(analysis, config, teachers, num_classes: int | None = None) -> list[str]:
    best = max((t.test_acc1 for t in teachers), default=math.nan)
    lines = [
        *_direction_lines(getattr(analysis, "correlations", pd.DataFrame()), config, num_classes),
        _teacher_line(best, num_classes),
        _few_points_line(getattr(analysis, "correlations", pd.DataFrame()), len(config.schemes)),
        *power_lines(getattr(analysis, "verdicts", pd.DataFrame()), 1 - getattr(analysis, "confidence", 0.95)),
        *_noise_lines(analysis.scheme_effect),
        f"- **Training length.** Students trained {config.epochs} epochs "
        "(" + ("the Plateau section says what the test loss did at the end" if not config.quick
               else "a CI smoke run: no conclusions") + ").",
        "- **Better tests:** CIFAR-100 or Tiny ImageNet (`--preset cifar100|tinyimagenet`, 100/200 classes, "
        "teachers far from one-hot), more schemes per panel (e.g. `dastat.augment.pick` variants and scheme "
        "strengths), more seeds per scheme, and the paper protocol beside the fast one.",
    ]
    return lines


def _direction_lines(correlations: pd.DataFrame, config, num_classes: int | None) -> list[str]:
    """The discussion's opening: which way T. stddev followed the test loss (Spearman, read as in
    :func:`pair_reading`), and what that asks."""
    found: dict[str, list[str]] = {"paper": [], "reversed": [], "unclear": []}
    if not correlations.empty:
        rows = correlations[(correlations["x"] == "t_stddev") & (correlations["y"] == "s_test_loss")
                            & (correlations["method"] == "spearman")]
        for r in rows.itertuples(index=False):
            found[_rank_direction(r) or "unclear"].append(
                f"{r.teacher} → {r.student} (Spearman {r.r:+.2f}, permutation p = {_f(r.p_perm, '{:.3g}')})")
    if found["reversed"]:
        text = (f"T. stddev followed the students' test loss against the paper's direction in "
                f"{'; '.join(found['reversed'])}: the schemes with the highest T. stddev gave the best students.")
        images = getattr(config, "train_images", None)
        if images and num_classes:
            text += (f" These students see {images} training images ({images / num_classes:g} a class), far fewer "
                     "than their teachers; a scheme then helps them by showing new, uncertain images on which the "
                     "teacher's soft labels carry information, which is what raises T. stddev (the paper's students "
                     "see 500 images a class).")
        text += " The teacher-side predictors above say which measure follows the loss here."
        return [text, "", "What else bears on this reading, and what would test the claim better:", ""]
    if found["paper"] and not found["unclear"]:
        return [f"T. stddev followed the students' test loss in the paper's direction in every pair: "
                f"{'; '.join(found['paper'])}.", "", "What limits this reading, and what would test it better:", ""]
    lead = (f"T. stddev followed the paper's direction in {'; '.join(found['paper'])}; elsewhere the correlation "
            "is not significant. " if found["paper"] else "")
    return [lead + "Why a weak or unstable correlation is plausible here, and what would test the claim better:", ""]


def _noise_lines(effect: pd.DataFrame) -> list[str]:
    """Whether the schemes' student losses stand out from the seed noise at all, per pair."""
    if effect.empty:
        return []
    parts = [f"{r.teacher} → {r.student}: the schemes' mean losses spread by {r.sd_scheme_means:.4f} (sd), runs "
             f"about them by {r.residual_sd:.4f} (residual sd), signal-to-noise {r.signal_to_noise:.2f}, "
             f"p = {_f(r.p_value, '{:.3g}')}" for r in effect.itertuples(index=False)]
    weak = [f"{r.teacher} → {r.student}" for r in effect.itertuples(index=False)
            if not (r.signal_to_noise > 1.5 and r.p_value < 0.05)]
    text = ("- **Student noise.** Do the schemes change the students' test loss beyond seed noise (ANOVA of the "
            "runs on scheme + seed, the seed a block because all schemes of a seed share its data order; "
            "signal-to-noise = sd of the scheme means / noise of one mean)? " + "; ".join(parts) + ".")
    if weak:
        text += (f" For {', '.join(weak)} the schemes' student losses are hardly told apart at this number of "
                 "seeds, so no ranking of the schemes, by T. stddev or anything else, can correlate with them "
                 "beyond chance there.")
    return [text, "", _markdown(effect, {"sd_scheme_means": "{:.4f}", "residual_sd": "{:.4f}",
                                         "signal_to_noise": "{:.2f}", "f": "{:.2f}", "p_value": "{:.3g}"}), ""]


def _compute_line(result) -> str:
    """The compute behind the results, whichever run made them (a re-run that skips everything is fast)."""
    compute = result.analysis.compute_s
    teachers = sum(t.elapsed_s for t in result.teachers)
    return (f"Recorded compute behind these results, from this run or earlier ones: teacher training "
            f"{teachers / 60:.1f} min, probes {compute.get('probes', 0.0) / 60:.1f} min, student training "
            f"{compute.get('students', 0.0) / 60:.1f} min over {compute.get('student_runs', 0)} runs "
            f"(run {result.config.jobs} at a time).")


def _settled_sentence(settled: pd.Series) -> str:
    """When the runs entered their final range, as far as their scored epochs tell."""
    known = settled.dropna()
    if known.empty:
        return ("The test set was scored only over the window, so when the runs entered their final range is "
                "not known.")
    unknown = "" if len(known) == len(settled) else (
        f" ({len(settled) - len(known)} runs were already in it at their first scored epoch, so when they "
        "entered it is not known)")
    return (f"The median run entered its final range (widened by 1%) at epoch {known.median():.0f}, the slowest at "
            f"{known.max():.0f}{unknown}.")


def _plateau_lines(plateau: pd.DataFrame) -> list[str]:
    """The plateau rule read literally (range) and as a fitted trend, with the per-pair table."""
    runs, epochs = len(plateau), int(plateau["epochs"].max())
    literal, flat = int(plateau["is_plateau"].sum()), int(plateau["is_flat"].sum())
    text = (f"Rule: over the last 20% of the epochs the test loss changes by less than 1%. Read literally "
            f"((max − min) / min over those epochs and the one before), {literal} of {runs} runs meet it after "
            f"{epochs} epochs; the median range is {plateau['rel_change'].median():.2%}. That range has a floor: "
            f"the test loss jitters from epoch to epoch by {plateau['jitter'].median():.2%} (median relative "
            "standard deviation about a line fitted through the window) even where the learning rate is "
            "1/1000 of its start, because every training batch still updates the BatchNorm running "
            f"statistics. Read as a net change (the fitted line's change across the window), {flat} of {runs} "
            f"runs are flat (change below 1% or within twice its standard error; median |change| "
            f"{plateau['trend'].abs().median():.2%}). {_settled_sentence(plateau['settled_epoch'])} "
            "The paper's step schedule (lr × 0.1 at 62.5%, 75% and 87.5% of the epochs) flattens the last 20% "
            "by itself, so a flat window says the learning rate had decayed, not that more epochs would not help.")
    if flat < runs:
        text += (f" {runs - flat} of {runs} runs still show a net change: if their trends differ by scheme, their "
                 "test losses are those of students still changing, and scheme differences partly measure how fast "
                 "each scheme trains; if all schemes of a seed share the trend (the table by seed below), it comes "
                 "from that seed's data order, which every scheme shares (the same last batches of each epoch "
                 "feed the BatchNorm statistics), and moves all schemes of the seed together.")
    table = plateau.assign(abs_trend=plateau["trend"].abs()).groupby(["teacher", "student"]).agg(
        runs=("run_id", "count"), range_below_1pct=("is_plateau", "sum"), flat=("is_flat", "sum"),
        median_range=("rel_change", "median"), median_abs_trend=("abs_trend", "median"),
        median_jitter=("jitter", "median"), median_settled_epoch=("settled_epoch", "median"),
        max_settled_epoch=("settled_epoch", "max")).reset_index()
    by_seed = plateau.groupby(["teacher", "student", "seed"]).agg(
        runs=("run_id", "count"), flat=("is_flat", "sum"), median_trend=("trend", "median"),
        min_trend=("trend", "min"), max_trend=("trend", "max"), median_jitter=("jitter", "median")).reset_index()
    percent = "{:.2%}"
    return [text, "", _markdown(table, {"median_range": percent, "median_abs_trend": percent,
                                        "median_jitter": percent}),
            "", "By seed (every scheme of a seed sees the same data order):", "",
            _markdown(by_seed, {"median_trend": "{:+.2%}", "min_trend": "{:+.2%}", "max_trend": "{:+.2%}",
                                "median_jitter": percent})]


def _pool_line(result) -> list[str]:
    """A probe pool of fewer than 20 sets' worth of images (docs/method.md, "Protocols") is worth a line."""
    from dastat.probe.protocols import POOL_SETS

    images = getattr(result, "probe_images", None)
    set_images = result.config.probe.batch_size * result.config.probe.set_blocks // 2
    if not images or images >= POOL_SETS * set_images:
        return []
    return [f"The probes draw from {images:,} images, fewer than {POOL_SETS} sets' worth ({POOL_SETS * set_images:,}): "
            "protocol fast draws every batch independently from them and measures the pool-free T. stddev; a "
            "paper-protocol value would depend on the pool's size.", ""]


def _header_lines(result, exports: dict[str, Path]) -> list[str]:
    config = result.config
    pairs = ", ".join(f"{p['teacher']} → {p['student']}" for p in config.pairs)
    lines = [
        f"# dastat study: {config.name}{' (quick)' if config.quick else ''}", "",
        f"Dataset `{config.data}`" + (f" at {config.image_size} px" if config.image_size else "") +
        f"; pairs {pairs}; {len(config.schemes)} schemes × {len(config.seeds)} seeds; students "
        f"{config.epochs} epochs (batch {config.batch_size}, paper recipe with milestones scaled); probe protocols "
        f"{', '.join(config.probe_protocols)} (fast: rtol {config.probe.rtol}, at most "
        f"{config.probe.max_sets} sets, probe seed {config.probe.seed}).",
        "",
        f"This run's wall time {result.elapsed_s / 60:.1f} min ("
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in result.stage_s.items())
        + f"); {result.ran_jobs} training jobs ran, {result.skipped_jobs} were already done, "
        f"{len(result.failed)} failed. " + _compute_line(result) + " Configuration: `config.yaml`; store: "
        "`dastat.sqlite`; exports: " + ", ".join(f"`{p.name}`" for k, p in exports.items() if p.suffix == ".csv")
        + ".",
        "",
    ]
    if config.notes:
        lines += [config.notes.strip(), ""]
    lines += _pool_line(result)
    if result.failed:
        lines += ["**Failed jobs:**", ""] + [f"- `{f['job']}`: {f['error']}" for f in result.failed] + [""]
    return lines


def _probe_lines(result, exports: dict[str, Path]) -> list[str]:
    analysis = result.analysis
    lines = ["## Teachers", "", _markdown(pd.DataFrame([t.to_dict() for t in result.teachers])[
        ["arch", "origin", "epochs", "test_acc1", "test_loss", "elapsed_s"]]), ""]
    lines += ["## T. stddev per scheme, against the label-composition floor", "",
              "`floor` is the same estimator on the one-hot labels of the same sets "
              "(docs/method.md, \"The floor\"); `t_stddev_rel` = T. stddev / floor. Below 1 means the teacher's "
              "mean probability varies *less* than the labels of the sets do, which happens when x' mixes "
              "classes.", ""]
    probes = analysis.probes
    if not probes.empty:
        lines += [_markdown(probes[["teacher", "protocol", "scheme", "t_stddev", "ci_low", "ci_high", "floor",
                                    "t_stddev_rel", "n_sets", "teacher_acc_xprime", "mean_entropy_xprime"]],
                            {"t_stddev": "{:.6f}", "ci_low": "{:.6f}", "ci_high": "{:.6f}", "floor": "{:.6f}",
                             "t_stddev_rel": "{:.3f}", "teacher_acc_xprime": "{:.3f}",
                             "mean_entropy_xprime": "{:.3f}"}), ""]
    lines += [f"![{name}]({path.name})\n" for name, path in exports.items() if name.startswith("ranking_")]
    return [*lines, "### How much of the ranking is the floor", "", _markdown(analysis.floor_effect), ""]


def _student_lines(analysis) -> list[str]:
    lines = ["## Students (mean over seeds; `_err` = stddev over seeds)", "",
             _markdown(analysis.table[[c for c in ("teacher", "student", "scheme", "t_stddev", "s_test_loss",
                                                   "s_test_loss_err", "s_test_acc1", "n_runs")
                                       if c in analysis.table.columns]],
                       {"t_stddev": "{:.6f}", "s_test_loss": "{:.4f}", "s_test_loss_err": "{:.4f}",
                        "s_test_acc1": "{:.2f}"}), ""]
    if not analysis.plateau.empty:
        lines += ["## Plateau", "", *_plateau_lines(analysis.plateau), ""]
    return lines


def _correlation_lines(analysis) -> list[str]:
    corr = analysis.correlations
    corr_cols = [c for c in ("teacher", "student", "method", "n", "r", "ci_low", "ci_high", "ci_method", "p_value",
                             "p_perm") if c in corr.columns]
    lines = ["## Correlations per pair (over schemes)", "", _markdown(corr[corr_cols]) if not corr.empty
             else "_(none)_", ""]
    if not analysis.run_correlations.empty:
        lines += ["### With the seed noise of both axes (run bootstrap)", "",
                  _markdown(analysis.run_correlations[[c for c in ("teacher", "student", "method", "n", "r", "ci_low",
                                                                   "ci_high", "frac_same_sign", "n_student_runs")
                                                       if c in analysis.run_correlations.columns]]), ""]
    if not analysis.paper_correlations.empty:
        lines += ["### Paper protocol probes", "",
                  _markdown(analysis.paper_correlations[["teacher", "student", "method", "n", "r", "ci_low",
                                                         "ci_high", "p_value"]]), ""]
    if not analysis.pooled.empty:
        pooled = analysis.pooled[[c for c in ("model", "term", "estimate", "ci_low", "ci_high", "p_value", "n",
                                              "n_groups", "reason") if c in analysis.pooled.columns]]
        lines += ["## Pooled across pairs (x and y standardised within each pair)", "",
                  "The pairs share their schemes, so the row to read is the fixed-effect summary with schemes "
                  "resampled jointly (`fixed_effect_joint_bootstrap_pearson`); a mixed model that did not converge, "
                  "cluster-robust errors with fewer than 10 clusters and a random-effects pool of fewer than 5 pairs "
                  "give no interval or p-value (`reason` says which).", "", _markdown(pooled), ""]
    return lines


def _selection_lines(analysis) -> list[str]:
    sel = analysis.selection
    if sel is None:
        return []
    z = vocab.critical_value(analysis.confidence)
    return ["## Selection: does the lowest T. stddev pick the best scheme?", "",
            f"Across {sel.n_pairs} pairs: picks the best in {sel.frac_best:.0%}, within seed noise in "
            f"{_f(sel.frac_within_noise, '{:.0%}')}; mean regret {sel.mean_regret:.4f}, max "
            f"{sel.max_regret:.4f} (test loss). Within noise means a regret of at most {z:.2f} paired "
            f"standard errors ({analysis.confidence:.0%}) over the seeds both schemes were trained with "
            "(`regret_se`; `regret_p_value` is the paired t-test, stricter at few seeds).", "",
            _markdown(sel.pairs[[c for c in ("teacher", "student", "n", "chosen", "best", "chosen_loss",
                                             "best_loss", "regret", "regret_se", "regret_p_value",
                                             "chosen_rank", "within_noise")
                                 if c in sel.pairs.columns]]), ""]


def write_report(result, *, exports: dict[str, Path]) -> Path:
    """Write ``result.out / "report.md"`` from a :class:`dastat.study.StudyResult`."""
    config, analysis = result.config, result.analysis
    lines = _header_lines(result, exports)
    lines += ["## Reading", "", *_reading(analysis, config), ""]
    if "fig4" in exports:
        lines += ["## Figure 4 on this data", "", f"![Figure 4 grid]({exports['fig4'].name})", ""]
    lines += _probe_lines(result, exports) + _student_lines(analysis) + _correlation_lines(analysis)
    lines += _selection_lines(analysis) + _predictor_section(analysis, exports)
    lines += ["## Discussion", "", *_discussion(analysis, config, result.teachers, result.num_classes), ""]
    lines += ["## Deviations from the paper's setting", "",
              "- `cutmixpick_s` is probed with one scorer per teacher: the plain-KD (identity) student of the "
              "teacher's first pair, first seed; the students distilled with `cutmixpick_s` score with themselves "
              "as they train (dastat's StudentScorer: eval mode, no BatchNorm updates).",
              "- T. stddev comes from the fast protocol (per-sample randomness, stopped at the interval's rtol or "
              "max_sets) unless the paper protocol is listed above.",
              "- Epochs are scaled down from 240 with the same milestone proportions." if config.epochs < 240 else
              "- 240 epochs, the paper's recipe.", ""]
    path = result.out / "report.md"
    path.write_text("\n".join(lines))
    return path


def rewrite_report(out: str | Path) -> Path:
    """Recompute a finished study's statistics from its store and write its exports and ``report.md`` again.

    Nothing is trained or probed: the store (``out/dastat.sqlite``), ``config.yaml`` and the teachers and
    timings of ``summary.json`` are read as the study left them, so a change to the statistics or the
    report reaches a committed study in seconds.
    """
    from dastat import data
    from dastat import store as store_mod
    from dastat.jsonable import json_ready
    from dastat.study.analysis import analyse
    from dastat.study.config import load_config
    from dastat.study.pipeline import STORE_NAME, StudyResult
    from dastat.study.teachers import TeacherInfo

    out = Path(out)
    summary = json.loads((out / "summary.json").read_text())
    config = load_config(out / "config.yaml")
    store = store_mod.open(out / STORE_NAME)
    analysis = analyse(store, protocols=config.probe_protocols, quick=config.quick)
    exports = analysis.write(out, store=store, name=config.name)
    result = StudyResult(out=out, config=config, teachers=[TeacherInfo(**t) for t in summary["teachers"]],
                         analysis=analysis, report=out / "report.md", elapsed_s=summary["elapsed_s"],
                         stage_s=summary["stage_s"], failed=summary["failed"], skipped_jobs=summary["jobs_skipped"],
                         ran_jobs=summary["jobs_ran"],
                         num_classes=data.load(config.data, split="test", root=config.root,
                                               image_size=config.image_size, **config.data_options).num_classes)
    path = write_report(result, exports=exports)
    (out / "summary.json").write_text(json.dumps(json_ready(result.to_dict()), indent=2, default=str))
    return path


__all__ = ["rewrite_report", "write_report"]
