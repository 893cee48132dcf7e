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


def _strength(r: float) -> str:
    a = abs(r)
    for limit, word in ((0.1, "no"), (0.3, "a weak"), (0.5, "a moderate"), (0.7, "a strong")):
        if a < limit:
            return word
    return "a very strong"


def _reading(analysis, config) -> list[str]:
    lines = []
    corr = analysis.correlations
    if corr.empty:
        return ["No pair has both probes and finished students yet: nothing to read."]
    for keys, group in corr.groupby(["dataset", "teacher", "student"]):
        by = {row.method: row for row in group.itertuples(index=False)}
        sp, pe = by.get("spearman"), by.get("pearson")
        if sp is None or pe is None or math.isnan(sp.r):
            lines.append(f"- **{keys[1]} → {keys[2]}**: too few schemes for a correlation ({group['n'].iloc[0]}).")
            continue
        covers_zero = sp.ci_low <= 0 <= sp.ci_high
        verdict = ("T. stddev orders the students' test losses in the paper's direction (lower T. stddev, lower loss)"
                   if sp.r > 0 else "the order runs against the paper's claim (lower T. stddev, *higher* loss)")
        lines.append(
            f"- **{keys[1]} → {keys[2]}** (n = {sp.n} schemes): {_strength(sp.r)} rank correlation, Spearman "
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
            text += ("most of the ordering comes from the schemes below the floor." if drop > 0.3
                     else "the ordering does not rest mainly on them.")
        lines.append(text)
    return lines


def _discussion(analysis, config, teachers) -> list[str]:
    best = max((t.test_acc1 for t in teachers), default=math.nan)
    classes = None
    if not analysis.probes.empty:
        classes = "10" if config.data == "digits" else None
    lines = [
        "Why a weak or unstable correlation is plausible here, and what would test the claim better:",
        "",
        f"- **An easy task with near-perfect teachers** (best teacher test top-1 {best:.2f}%). With "
        f"{classes or 'few'} classes and teachers that are almost one-hot on clean images, T. stddev of the "
        "non-mixing schemes is close to the label-composition floor (the value a perfect one-hot teacher would "
        "get from the labels alone), so their T. stddev differences are small next to their intervals and say "
        "little about the teacher's information; the spread comes mostly from the mixing schemes, which move "
        "the teacher's outputs between classes.",
        "- **Few points per panel.** Nine schemes per pair give wide intervals for any correlation "
        "(at n = 9 a Spearman of 0.7 is needed for p < 0.05).",
        "- **Student noise.** On a 360-image test split, seed-to-seed differences of test loss are of the same "
        "size as the differences between schemes (see the ± columns), which blurs the y axis.",
        f"- **Short training.** Students trained {config.epochs} epochs "
        "(" + ("the plateau rule below says whether that was enough" if not config.quick
               else "a CI smoke run: no conclusions") + ").",
        "- **Better tests:** CIFAR-100 or Tiny ImageNet (`--preset cifar100|tinyimagenet`, 100/200 classes, "
        "teachers far from one-hot), more schemes per panel (e.g. `dastat.augment.pick` variants and scheme "
        "strengths), more seeds per scheme, and the paper protocol beside the fast one.",
    ]
    return lines


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
        f"Wall time {result.elapsed_s / 60:.1f} min ("
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in result.stage_s.items())
        + f"); {result.ran_jobs} training jobs ran, {result.skipped_jobs} were already done, "
        f"{len(result.failed)} failed. Configuration: `config.yaml`; store: `dastat.sqlite`; exports: "
        + ", ".join(f"`{p.name}`" for k, p in exports.items() if p.suffix == ".csv") + ".",
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
              "`floor` is the same estimator on the one-hot labels of the same sets (SPEC §1); `t_stddev_rel` = "
              "T. stddev / floor. Below 1 means the teacher's mean probability varies *less* than the labels "
              "of the sets do, which happens when x' mixes classes.", ""]
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
        flat = int(plateau["is_plateau"].sum())
        verdict = ("" if flat == len(plateau) else
                   f" **{len(plateau) - flat} of {len(plateau)} runs had not reached the plateau**: their test losses "
                   "are those of students still improving, so scheme differences partly measure how fast each "
                   "scheme trains rather than where it converges.")
        lines += ["## Plateau", "",
                  f"Rule: over the last 20% of the epochs the test loss changes by less than 1% ((max − min) / min). "
                  f"{flat} of {len(plateau)} runs meet it after {int(plateau['epochs'].max())} epochs; the median run "
                  f"settled (every later loss within 1% of the final one) at epoch "
                  f"{plateau['settled_epoch'].median():.0f}, the slowest at {plateau['settled_epoch'].max():.0f}; "
                  f"median relative change over the window {plateau['rel_change'].median():.2%}. The paper's step "
                  "schedule (lr × 0.1 at 62.5%, 75% and 87.5% of the epochs) flattens the last 20% by itself, so "
                  "meeting the rule says the learning rate had decayed, not that more epochs would not help."
                  + verdict, "",
                  _markdown(plateau.groupby(["teacher", "student"]).agg(
                      runs=("run_id", "count"), on_plateau=("is_plateau", "sum"),
                      median_rel_change=("rel_change", "median"), max_rel_change=("rel_change", "max"),
                      median_settled_epoch=("settled_epoch", "median")).reset_index()), ""]
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
        lines += ["## Pooled across pairs (x and y standardised within each pair)", "",
                  _markdown(analysis.pooled[[c for c in ("model", "term", "estimate", "ci_low", "ci_high", "p_value",
                                                         "n", "n_groups", "reason") if c in analysis.pooled.columns]]),
                  ""]
    if analysis.selection is not None:
        sel = analysis.selection
        lines += ["## Selection: does the lowest T. stddev pick the best scheme?", "",
                  f"Across {sel.n_pairs} pairs: picks the best in {sel.frac_best:.0%}, within the best scheme's seed "
                  f"noise in {_f(sel.frac_within_noise, '{:.0%}')}; mean regret {sel.mean_regret:.4f}, max "
                  f"{sel.max_regret:.4f} (test loss).", "",
                  _markdown(sel.pairs[[c for c in ("teacher", "student", "n", "chosen", "best", "chosen_loss",
                                                   "best_loss", "regret", "chosen_rank", "within_noise")
                                       if c in sel.pairs.columns]]), ""]
    lines += ["## Discussion", "", *_discussion(analysis, config, result.teachers), ""]
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
