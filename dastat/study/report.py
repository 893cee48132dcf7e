"""``report.md``: the study's tables, figure and a reading of what they say, written from its numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from dastat.study.analysis import MIXING


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


def _strength(r: float, ci_low: float, ci_high: float) -> str:
    """Cohen-style words for |r|, and only when the interval excludes zero (else the data cannot tell)."""
    if not (ci_low > 0 or ci_high < 0):  # covers zero, or NaN
        return "an inconclusive"
    a = abs(r)
    for limit, word in ((0.1, "a negligible"), (0.3, "a weak"), (0.5, "a moderate"), (0.7, "a strong")):
        if a < limit:
            return word
    return "a very strong"


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
        covers_zero = sp.ci_low <= 0 <= sp.ci_high
        if abs(sp.r) < 0.1:
            verdict = "T. stddev does not order the students' test losses here"
        elif sp.r > 0:
            verdict = ("T. stddev orders the students' test losses in the paper's direction "
                       "(lower T. stddev, lower loss)")
        else:
            verdict = "the order runs against the paper's claim (lower T. stddev, *higher* loss)"
        lines.append(
            f"- **{pair}** (n = {sp.n} schemes): {_strength(sp.r, sp.ci_low, sp.ci_high)} rank "
            "correlation, Spearman "
            f"{sp.r:+.3f} [{sp.ci_low:+.3f}, {sp.ci_high:+.3f}] (p = {_f(sp.p_value, '{:.3g}')}, permutation "
            f"p = {_f(sp.p_perm, '{:.3g}')}); Pearson {pe.r:+.3f} [{pe.ci_low:+.3f}, {pe.ci_high:+.3f}]. "
            f"{verdict[0].upper()}{verdict[1:]}; "
            + (("the interval covers zero, so this is not evidence either way at this n."
                if not (sp.p_perm < 0.05) else
                f"the permutation test rejects no correlation (p = {sp.p_perm:.3g}) but the bootstrap interval "
                "covers zero: at n = 9 the interval is rough, read it as indicative.") if covers_zero
               else "the interval excludes zero."))
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
                 f"regret {r.regret:.4f})" for r in sel.pairs.itertuples(index=False)]
        lines.append("- Selection (lowest T. stddev as the choice): " + "; ".join(picks) + ".")
    fe = analysis.floor_effect
    for r in fe.itertuples(index=False):
        below = r.below_floor.replace(";", ", ") or "none"
        mixing = sum(s in MIXING for s in r.below_floor.split(";") if s)
        text = (f"- Floor, {r.teacher} → {r.student}: T. stddev / floor spans {r.rel_min:.3f} to {r.rel_max:.3f}; "
                f"below the floor (interval under it): {below} ({mixing} of them mixing schemes). ")
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


def _discussion(analysis, config, teachers, num_classes: int | None = None) -> list[str]:
    best = max((t.test_acc1 for t in teachers), default=math.nan)
    lines = [
        "Why a weak or unstable correlation is plausible here, and what would test the claim better:",
        "",
        _teacher_line(best, num_classes),
        f"- **Few points per panel.** {len(config.schemes)} schemes per pair give wide intervals for any "
        "correlation (at n = 9 a Spearman of about 0.7 is needed for p < 0.05).",
        *_noise_lines(analysis.scheme_effect),
        f"- **Training length.** Students trained {config.epochs} epochs "
        "(" + ("the Plateau section says what the test loss did at the end" if not config.quick
               else "a CI smoke run: no conclusions") + ").",
        "- **Better tests:** CIFAR-100 or Tiny ImageNet (`--preset cifar100|tinyimagenet`, 100/200 classes, "
        "teachers far from one-hot), more schemes per panel (e.g. `dastat.augment.pick` variants and scheme "
        "strengths), more seeds per scheme, and the paper protocol beside the fast one.",
    ]
    return lines


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
            f"{plateau['trend'].abs().median():.2%}). The median run entered its final range (widened by 1%) at "
            f"epoch {plateau['settled_epoch'].median():.0f}, the slowest at {plateau['settled_epoch'].max():.0f}. "
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


def write_report(result, *, exports: dict[str, Path]) -> Path:
    """Write ``result.out / "report.md"`` from a :class:`dastat.study.StudyResult`."""
    config, analysis = result.config, result.analysis
    out = result.out
    lines = [f"# dastat study: {config.name}{' (quick)' if config.quick else ''}", ""]
    pairs = ", ".join(f"{p['teacher']} → {p['student']}" for p in config.pairs)
    lines += [
        f"Dataset `{config.data}`" + (f" at {config.image_size} px" if config.image_size else "") +
        f"; pairs {pairs}; {len(config.schemes)} schemes × {len(config.seeds)} seeds; students "
        f"{config.epochs} epochs (batch {config.batch_size}, paper recipe with milestones scaled); probe protocols "
        f"{', '.join(config.probe.protocols)} (fast: rtol {config.probe.rtol}, at most "
        f"{config.probe.max_sets or 'the default'} sets, probe seed {config.probe.seed}).",
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
    if result.failed:
        lines += ["**Failed jobs:**", ""] + [f"- `{f['job']}`: {f['error']}" for f in result.failed] + [""]
    lines += ["## Reading", "", *_reading(analysis, config), ""]
    if "fig4" in exports:
        lines += ["## Figure 4 on this data", "", f"![Figure 4 grid]({exports['fig4'].name})", ""]
    lines += ["## Teachers", "", _markdown(pd.DataFrame([t.to_dict() for t in result.teachers])[
        ["arch", "origin", "epochs", "test_acc1", "test_loss", "elapsed_s"]]), ""]
    lines += ["## T. stddev per scheme, against the label-composition floor", "",
              "`floor` is the same estimator on the one-hot labels of the same sets "
              "(docs/method.md, \"The floor\"); `t_stddev_rel` = T. stddev / floor. Below 1 means the teacher's "
              "mean probability varies *less* than the labels of the sets do, which happens when x' mixes "
              "classes.", ""]
    probes = analysis.probes.copy()
    if not probes.empty:
        lines += [_markdown(probes[["teacher", "protocol", "scheme", "t_stddev", "ci_low", "ci_high", "floor",
                                    "t_stddev_rel", "n_sets", "teacher_acc_xprime", "mean_entropy_xprime"]],
                            {"t_stddev": "{:.6f}", "ci_low": "{:.6f}", "ci_high": "{:.6f}", "floor": "{:.6f}",
                             "t_stddev_rel": "{:.3f}", "teacher_acc_xprime": "{:.3f}",
                             "mean_entropy_xprime": "{:.3f}"}), ""]
    for name in exports:
        if name.startswith("ranking_"):
            lines += [f"![{name}]({exports[name].name})", ""]
    lines += ["### How much of the ranking is the floor", "", _markdown(analysis.floor_effect), ""]
    lines += ["## Students (mean over seeds; `_err` = stddev over seeds)", "",
              _markdown(analysis.table[[c for c in ("teacher", "student", "scheme", "t_stddev", "s_test_loss",
                                                    "s_test_loss_err", "s_test_acc1", "n_runs")
                                        if c in analysis.table.columns]],
                        {"t_stddev": "{:.6f}", "s_test_loss": "{:.4f}", "s_test_loss_err": "{:.4f}",
                         "s_test_acc1": "{:.2f}"}), ""]
    plateau = analysis.plateau
    if not plateau.empty:
        lines += ["## Plateau", "", *_plateau_lines(plateau), ""]
    corr = analysis.correlations
    corr_cols = [c for c in ("teacher", "student", "method", "n", "r", "ci_low", "ci_high", "ci_method", "p_value",
                             "p_perm") if c in corr.columns]
    lines += ["## Correlations per pair (over schemes)", "", _markdown(corr[corr_cols]) if not corr.empty
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
        if "reason" in pooled:  # statsmodels' optimiser warnings run long: their first sentence says it
            pooled = pooled.assign(reason=pooled["reason"].fillna("").map(lambda text: text.split("; ")[0]))
        lines += ["## Pooled across pairs (x and y standardised within each pair)", "", _markdown(pooled), ""]
    if analysis.selection is not None:
        sel = analysis.selection
        lines += ["## Selection: does the lowest T. stddev pick the best scheme?", "",
                  f"Across {sel.n_pairs} pairs: picks the best in {sel.frac_best:.0%}, within seed noise in "
                  f"{_f(sel.frac_within_noise, '{:.0%}')}; mean regret {sel.mean_regret:.4f}, max "
                  f"{sel.max_regret:.4f} (test loss). Within noise means a regret of at most 1.96 paired "
                  "standard errors over the seeds both schemes were trained with (`regret_se`; "
                  "`regret_p_value` is the paired t-test, stricter at few seeds).", "",
                  _markdown(sel.pairs[[c for c in ("teacher", "student", "n", "chosen", "best", "chosen_loss",
                                                   "best_loss", "regret", "regret_se", "regret_p_value",
                                                   "chosen_rank", "within_noise")
                                       if c in sel.pairs.columns]]), ""]
    lines += ["## Discussion", "", *_discussion(analysis, config, result.teachers, result.num_classes), ""]
    lines += ["## Deviations from the paper's setting", "",
              "- `cutmixpick_s` is probed with one scorer per teacher: the plain-KD (identity) student of the "
              "teacher's first pair, first seed; the students distilled with `cutmixpick_s` score with themselves "
              "as they train (dastat's StudentScorer: eval mode, no BatchNorm updates).",
              "- T. stddev comes from the fast protocol (per-sample randomness, stopped at the interval's rtol or "
              "max_sets) unless the paper protocol is listed above.",
              "- Epochs are scaled down from 240 with the same milestone proportions." if config.epochs < 240 else
              "- 240 epochs, the paper's recipe.", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


__all__ = ["write_report"]
