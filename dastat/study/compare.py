"""Finished studies that differ in one setting (e.g. the students' pool size), compared from their exported files.

Nothing is recomputed: each folder's ``config.yaml`` and the CSVs ``dastat study`` exported are read,
pairs are matched by teacher and student (and distillation method), and a change is claimed only where
the per-study intervals back it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from dastat.errors import InvalidArgumentError
from dastat.stats import verdicts
from dastat.stats.tables import KD_METHOD
from dastat.yamlfile import read_yaml

STUDY_FILES = ("config.yaml", "scheme_effect.csv", "predictor_correlations.csv", "predictor_regret.csv",
               "table.csv", "students.csv")
PAIR = ("teacher", "student", KD_METHOD)
MINUS = "−"  # a direction below zero (U+2212), as opposed to a number's ASCII sign
REVERSES, SAME_DIRECTION, NOT_DECIDED = "reverses", "same direction", "not decided at these n"
SAME_BEST = "same best"
WITHIN_NOISE, BEYOND_NOISE = "different best, within seed noise", "different best, beyond seed noise"
# Different bests, one of which is within seed noise of the best in every study (the others are not).
NEAR_BEST = "different best; {scheme} is within seed noise of the best in every study"

# The columns read from each export (a file without them was not written by `dastat study`).
_COLUMNS = {
    "scheme_effect.csv": ("teacher", "student", "n_schemes", "n_seeds", "f", "p_value"),
    "predictor_correlations.csv": ("level", "teacher", "student", "predictor", "method", "n", "r", "ci_low",
                                   "ci_high", "p_value", "p_perm", "confidence"),
    "predictor_regret.csv": ("teacher", "student", "predictor", "n", "chosen", "regret", "best", "best_loss",
                             "best_noise", "random_regret"),
    "table.csv": ("teacher", "student", "scheme", "s_test_loss"),
    "students.csv": ("teacher", "teacher_checksum"),
}


@dataclass(frozen=True)
class _Study:
    label: str
    folder: Path
    config: dict
    effect: pd.DataFrame
    spearman: pd.DataFrame  # the pair-level Spearman rows of predictor_correlations.csv
    regret: pd.DataFrame
    losses: pd.DataFrame  # table.csv: one row per pair and scheme
    checksums: dict[str, str]  # teacher -> its checkpoints' checksums, ";"-joined

    def pairs(self) -> list[tuple]:
        return list(dict.fromkeys(self.losses[list(PAIR)].itertuples(index=False, name=None)))


@dataclass(frozen=True)
class StudyComparison:
    """Two or more studies side by side, pair by pair.

    ``table`` has one row per study and pair: ``label``, ``data``, ``train_images`` (None: the whole
    split), the pair keys, ``teacher_checksum``, ``confidence`` (of the study's intervals), the blocked
    ANOVA's ``n_schemes``, ``n_seeds``, ``scheme_f``, ``scheme_p_value``, the ``best`` scheme (lowest mean
    student test loss among the ``n_ranked`` schemes of the study's table; ``not_ranked`` lists the
    configured schemes it lacks), ``best_loss``, ``best_noise`` (the stddev of that loss over seeds),
    ``random_regret``, then for every predictor ``<p>_n``, ``<p>_r``, ``<p>_ci_low``, ``<p>_ci_high``,
    ``<p>_p_value``, ``<p>_p_perm`` (Spearman, oriented by the predictor's declared sign), ``<p>_chosen``
    and ``<p>_regret``.

    ``changes`` has one row per pair and predictor: ``r_<label>``, ``ci_low_<label>``, ``ci_high_<label>``,
    ``n_<label>`` and ``direction_<label>`` ("+" or "−" where the interval excludes 0, "0" where it holds
    0, "" without one) for each study, and ``verdict``.

    ``best`` has one row per pair: ``best_<label>``, ``best_loss_<label>``, ``best_noise_<label>`` and
    ``gap_<label>`` (the other studies' best schemes' loss in this study, the largest, minus its best
    loss), ``near_best`` (a study's best that is within seed noise of the best in every study, or None)
    and ``verdict``.
    """

    labels: tuple[str, ...]
    folders: tuple[str, ...]
    table: pd.DataFrame
    changes: pd.DataFrame
    best: pd.DataFrame
    left_out: tuple[str, ...]  # pairs not in every study, "teacher -> student (only in a, b)"

    def to_dict(self) -> dict:
        """Plain Python values (``--json``)."""
        return {"labels": list(self.labels), "folders": list(self.folders), "left_out": list(self.left_out),
                **{name: getattr(self, name).to_dict(orient="records") for name in ("table", "changes", "best")}}

    def to_markdown(self) -> str:
        """A short page: the studies, what changes between them, and how to read it."""
        return _page(self)

    def write(self, path: str | Path) -> list[Path]:
        """``path`` (the markdown page) and beside it ``<stem>-table.csv``, ``<stem>-changes.csv`` and
        ``<stem>-best.csv``; returns the four paths."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_markdown(), encoding="utf-8")
        written = [path]
        for name in ("table", "changes", "best"):
            written.append(path.with_name(f"{path.stem}-{name}.csv"))
            getattr(self, name).to_csv(written[-1], index=False)
        return written


def compare_studies(folders: Sequence[str | Path], labels: Sequence[str] | None = None) -> StudyComparison:
    """Compare finished ``dastat study`` folders pair by pair, from their exported files only.

    Parameters
    ----------
    folders : sequence of str or Path
        Two or more study output folders, each holding ``config.yaml`` and the exported CSVs.
    labels : sequence of str, optional
        One name per folder (default: each ``config.yaml``'s ``name``).

    Returns
    -------
    StudyComparison
        The per-study table, the per-predictor changes and the best-scheme changes of the pairs (teacher,
        student, distillation method) every study holds.

    Raises
    ------
    InvalidArgumentError
        Fewer than 2 folders, a folder that is not a study's output, labels that do not match the
        folders one to one, or studies without a pair in common.
    ConfigError
        A ``config.yaml`` that cannot be read as YAML.
    """
    if isinstance(folders, str | Path) or len(folders) < 2:
        raise InvalidArgumentError(f"folders must name at least 2 study folders to compare; got {folders!r}")
    studies = [_read_study(Path(folder)) for folder in folders]
    studies = _labelled(studies, labels)
    pairs = [p for p in studies[0].pairs() if all(p in s.pairs() for s in studies[1:])]
    every = list(dict.fromkeys(p for s in studies for p in s.pairs()))
    left_out = tuple(f"{_pair_text(p)} (only in {', '.join(s.label for s in studies if p in s.pairs())})"
                     for p in every if p not in pairs)
    if not pairs:
        held = "; ".join(f"{s.label}: {', '.join(map(_pair_text, s.pairs())) or 'none'}" for s in studies)
        raise InvalidArgumentError(f"the studies have no teacher -> student pair in common ({held}); compare "
                                   "studies of the same pairs")
    predictors = list(dict.fromkeys(p for s in studies for p in s.spearman["predictor"]))
    rows = [_table_row(s, p, predictors) for s in studies for p in pairs]
    table = pd.DataFrame(rows).assign(train_images=pd.Series([r["train_images"] for r in rows], dtype=object))
    return StudyComparison(
        labels=tuple(s.label for s in studies), folders=tuple(str(s.folder) for s in studies), table=table,
        changes=pd.DataFrame([_change_row(studies, p, predictor) for p in pairs for predictor in predictors]),
        best=pd.DataFrame([_best_row(studies, p) for p in pairs]), left_out=left_out)


def _read_study(folder: Path) -> _Study:
    fix = (f"a study folder holds config.yaml and the exported CSVs ({', '.join(STUDY_FILES[1:])}), which "
           f"`dastat study --out {folder}` writes when it finishes: run dastat study first, or give such a folder")
    if not folder.is_dir():
        raise InvalidArgumentError(f"{folder} is not a folder; {fix}")
    missing = [name for name in STUDY_FILES if not (folder / name).is_file()]
    if missing:
        raise InvalidArgumentError(f"{folder} is not a study's output: it lacks {', '.join(missing)}; {fix}")
    config = read_yaml(folder / "config.yaml", "study configuration")
    if not isinstance(config, dict):
        raise InvalidArgumentError(f"{folder / 'config.yaml'} is not a study configuration (a YAML mapping); {fix}")
    frames = {name: _read_csv(folder / name, columns, fix) for name, columns in _COLUMNS.items()}
    correlations = frames["predictor_correlations.csv"]
    spearman = correlations[(correlations["level"] == "pair") & (correlations["method"] == "spearman")]
    students = frames["students.csv"].dropna(subset=["teacher_checksum"])
    checksums = {str(t): ";".join(sorted(set(map(str, g)))) for t, g in students.groupby("teacher")["teacher_checksum"]}
    return _Study(label=str(config.get("name") or folder.name), folder=folder, config=config,
                  effect=frames["scheme_effect.csv"], spearman=_with_method(spearman),
                  regret=_with_method(frames["predictor_regret.csv"]), losses=_with_method(frames["table.csv"]),
                  checksums=checksums)


def _read_csv(path: Path, columns: Sequence[str], fix: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InvalidArgumentError(f"cannot read {path} as CSV ({' '.join(str(err).split())}); {fix}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(f"{path} lacks the column(s) {', '.join(missing)}, so `dastat study` did not "
                                   f"export it; {fix}")
    return frame


def _with_method(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with ``kd_method`` filled: a study of plain-KD students exports none (tables.with_kd_method)."""
    method = frame[KD_METHOD].fillna("kd") if KD_METHOD in frame.columns else "kd"
    return frame.assign(**{KD_METHOD: method})


def _labelled(studies: list[_Study], labels: Sequence[str] | None) -> list[_Study]:
    if labels is not None:
        labels = [str(label).strip() for label in ([labels] if isinstance(labels, str) else labels)]
        if len(labels) != len(studies) or not all(labels):
            raise InvalidArgumentError(f"labels must give one non-empty name per folder ({len(studies)}); got "
                                       f"{labels!r}")
        studies = [replace(s, label=label) for s, label in zip(studies, labels)]
    else:  # studies whose configurations share a name (a re-run under another folder) go by their folder's
        names = [s.label for s in studies]
        studies = [replace(s, label=s.folder.resolve().name) if names.count(s.label) > 1 else s for s in studies]
    names = [s.label for s in studies]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidArgumentError(f"two studies are both labelled {', '.join(map(repr, twice))}; give each its "
                                   "own label (labels=..., or --labels a,b)")
    return studies


def _rows(frame: pd.DataFrame, pair: tuple) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for key, value in zip(PAIR, pair):
        if key in frame.columns:  # scheme_effect.csv has no kd_method: it holds every method's students
            mask &= frame[key] == value
    return frame[mask]


def _first(frame: pd.DataFrame, column: str) -> object:
    return frame[column].iloc[0] if len(frame) else math.nan


def _table_row(study: _Study, pair: tuple, predictors: list[str]) -> dict:
    effect, regret, losses = (_rows(f, pair) for f in (study.effect, study.regret, study.losses))
    spearman = _rows(study.spearman, pair)
    ranked = set(losses["scheme"].astype(str))
    not_ranked = [str(s) for s in study.config.get("schemes") or () if str(s) not in ranked]
    row = {"label": study.label, "data": study.config.get("data"), "train_images": study.config.get("train_images"),
           **dict(zip(PAIR, pair)), "teacher_checksum": study.checksums.get(pair[0], ""),
           "confidence": _first(study.spearman, "confidence"),
           "n_schemes": _first(effect, "n_schemes"), "n_seeds": _first(effect, "n_seeds"),
           "scheme_f": _first(effect, "f"), "scheme_p_value": _first(effect, "p_value"),
           "n_ranked": len(ranked), "not_ranked": ";".join(not_ranked),
           **{c: _first(regret, c) for c in ("best", "best_loss", "best_noise", "random_regret")}}
    for predictor in predictors:
        corr = spearman[spearman["predictor"] == predictor]
        pick = regret[regret["predictor"] == predictor]
        row.update({f"{predictor}_{c}": _first(corr, c) for c in ("n", "r", "ci_low", "ci_high", "p_value", "p_perm")})
        row.update({f"{predictor}_{c}": _first(pick, c) for c in ("chosen", "regret")})
    return row


def _direction(ci_low: float, ci_high: float) -> str:
    """"+" or "−" where the interval lies wholly above or below 0, "0" where it holds 0, "" without one."""
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return ""
    if not verdicts.excludes_zero(ci_low, ci_high):
        return "0"
    return "+" if ci_low > 0 else MINUS


def _change_row(studies: list[_Study], pair: tuple, predictor: str) -> dict:
    row = {**dict(zip(PAIR, pair)), "predictor": predictor}
    directions, ns = {}, {}
    for study in studies:
        corr = _rows(study.spearman, pair)
        corr = corr[corr["predictor"] == predictor]
        values = {c: float(_first(corr, c)) for c in ("r", "ci_low", "ci_high", "n")}
        directions[study.label] = _direction(values["ci_low"], values["ci_high"])
        ns[study.label] = values["n"]
        row.update({f"{c}_{study.label}": values[c] for c in ("r", "ci_low", "ci_high", "n")})
        row[f"direction_{study.label}"] = directions[study.label]
    return {**row, "verdict": _direction_verdict(directions, ns)}


def _direction_verdict(directions: dict[str, str], ns: dict[str, float]) -> str:
    """What the intervals back: a reversal needs one wholly above 0 and another wholly below."""
    without = [label for label, d in directions.items() if not d]
    if without:
        return f"no interval in {', '.join(without)}"
    signs = set(directions.values())
    if {"+", MINUS} <= signs:
        return REVERSES
    if len(signs) == 1 and signs != {"0"}:
        return SAME_DIRECTION
    counts = {int(n) for n in ns.values()}
    at = (f"n = {counts.pop()} schemes in each" if len(counts) == 1
          else ", ".join(f"n = {int(n)} in {label}" for label, n in ns.items()))
    return f"{NOT_DECIDED} ({at})"


def _best_row(studies: list[_Study], pair: tuple) -> dict:
    row: dict = dict(zip(PAIR, pair))
    for study in studies:
        regret = _rows(study.regret, pair)
        row.update({f"{c}_{study.label}": _first(regret, c) for c in ("best", "best_loss", "best_noise")})
    bests = {s.label: row[f"best_{s.label}"] for s in studies}
    near_all = set(bests.values())  # the bests within seed noise of the best in every study so far
    for study in studies:
        losses = _rows(study.losses, pair).set_index("scheme")["s_test_loss"]
        others = {b for b in bests.values() if b != bests[study.label]}
        gaps = [float(losses.get(b, math.nan)) - row[f"best_loss_{study.label}"] for b in others]
        row[f"gap_{study.label}"] = (math.nan if any(map(math.isnan, gaps)) else max(gaps)) if gaps else 0.0
        best_loss, noise = row[f"best_loss_{study.label}"], row[f"best_noise_{study.label}"]
        near_all = {b for b in near_all if float(losses.get(b, math.nan)) - best_loss <= noise}
    row["near_best"] = next((b for b in dict.fromkeys(bests.values()) if b in near_all), None)
    return {**row, "verdict": _best_verdict(row, [s.label for s in studies])}


def _best_verdict(row: dict, labels: list[str]) -> str:
    """Whether each study's best is within the seed noise of every other study's best, in that study."""
    missing = [label for label in labels if not isinstance(row[f"best_{label}"], str)]
    if missing:
        return f"no best scheme in {', '.join(missing)}"
    if len({row[f"best_{label}"] for label in labels}) == 1:
        return SAME_BEST
    unjudged = [label for label in labels
                if not (math.isfinite(row[f"gap_{label}"]) and math.isfinite(row[f"best_noise_{label}"]))]
    if unjudged:
        return f"different best, not judged in {', '.join(unjudged)} (no seed noise, or no loss for the other best)"
    within = all(row[f"gap_{label}"] <= row[f"best_noise_{label}"] for label in labels)
    if within:
        return WITHIN_NOISE
    return NEAR_BEST.format(scheme=row["near_best"]) if row["near_best"] else BEYOND_NOISE


def _pair_text(pair: tuple) -> str:
    text = f"{pair[0]} → {pair[1]}"
    return text if pair[2] == "kd" else f"{text} ({pair[2]})"


def _num(value: object, fmt: str) -> str:
    return "–" if not isinstance(value, int | float) or not math.isfinite(value) else fmt.format(value)


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    """A GitHub table from cells already written as text."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _images(value: object) -> str:
    return "whole training split" if value is None or value != value else f"{int(value)} training images"


def _page(c: StudyComparison) -> str:
    table, labels = c.table, c.labels
    lines = [f"# Studies compared: {', '.join(labels)}", "",
             "Read from each study's exported files (nothing is recomputed); pairs are matched by teacher and "
             "student. Students of each study:", ""]
    first = table.drop_duplicates("label")
    lines += [f"- **{r.label}** (`{folder}`): {r.data}, {_images(r.train_images)}"
              for r, folder in zip(first.itertuples(index=False), c.folders)]
    if c.left_out:
        lines.append(f"- Left out (not in every study): {'; '.join(c.left_out)}")

    lines += ["", "## Per study", ""]
    lines += _grid(["study", "pair", "schemes × seeds", "scheme effect F", "p", "best scheme", "its loss",
                    "seed sd", "random pick's regret"],
                   [[r.label, _pair_text((r.teacher, r.student, r.kd_method)),
                     f"{_num(r.n_schemes, '{:.0f}')} × {_num(r.n_seeds, '{:.0f}')}", _num(r.scheme_f, "{:.2f}"),
                     _num(r.scheme_p_value, "{:.2g}"), r.best if isinstance(r.best, str) else "–",
                     _num(r.best_loss, "{:.4f}"), _num(r.best_noise, "{:.4f}"), _num(r.random_regret, "{:.4f}")]
                    for r in table.itertuples(index=False)])

    lines += ["", "## Does the best scheme change?", ""]
    lines += _grid(["pair", *(f"best in {label} (gap)" for label in labels), "verdict"],
                   [[_pair_text(tuple(r[k] for k in PAIR)),
                     *(f"{r[f'best_{label}']} ({_num(r[f'gap_{label}'], '{:+.4f}')}; seed sd "
                       f"{_num(r[f'best_noise_{label}'], '{:.4f}')})" for label in labels), r["verdict"]]
                    for r in c.best.to_dict(orient="records")])

    lines += ["", "## Does a predictor's direction change?", ""]
    picks = table.set_index(["label", *PAIR])
    lines += _grid(["pair", "predictor", *(f"Spearman in {label}" for label in labels), "verdict",
                    *(f"pick in {label} (regret)" for label in labels)],
                   [[_pair_text(tuple(r[k] for k in PAIR)), r["predictor"],
                     *(_correlation_cell(r, label) for label in labels), r["verdict"],
                     *(_pick_cell(picks.loc[(label, *(r[k] for k in PAIR))], r["predictor"]) for label in labels)]
                    for r in c.changes.to_dict(orient="records")])

    confidence = sorted({f"{v:.0%}" for v in table["confidence"] if isinstance(v, float) and math.isfinite(v)})
    shared = all(len(set(sums)) == 1 and "" not in sums for _, sums in table.groupby(list(PAIR))["teacher_checksum"])
    unranked: dict[str, list[str]] = {}
    for r in table.drop_duplicates(["label", "not_ranked"]).itertuples(index=False):
        for scheme in filter(None, str(r.not_ranked).split(";")):
            unranked.setdefault(scheme, []).append(r.label)
    lines += ["", "How to read it:", "",
              "- Direction: \"+\" where a study's Spearman interval lies above 0 (the predictor, oriented by its "
              "declared sign, orders the students' test loss its declared way: lower value, lower loss), "
              f"\"{MINUS}\" where it lies below 0, \"0\" where it holds 0: a null at that n, not a direction. "
              f"\"{REVERSES}\" needs one interval above 0 and another below; \"{SAME_DIRECTION}\" needs every "
              "interval on the same side of 0.",
              "- Best scheme: the lowest mean student test loss among the schemes each study ranks"
              + (" (schemes missing from a study's table.csv are not: "
                 + "; ".join(f"{k} in {', '.join(dict.fromkeys(v))}" for k, v in unranked.items()) + ")"
                 if unranked else "")
              + "; seed sd: the stddev over seeds of its loss. Gap: the other study's best scheme's loss minus "
              "this study's best, in this study; within seed noise when every gap is at most that study's seed "
              "sd; otherwise a best that is within seed noise of the best in every study is named. Regret: the "
              "picked scheme's loss minus the best's; a random pick's is the mean over schemes.",
              f"- Intervals are per study ({', '.join(confidence) or 'level not recorded'}); "
              + ("the studies share each pair's teacher (the same checkpoint), so they are not independent "
                 "replications" if shared else "the studies' teachers of a pair are not one checkpoint")
              + ", and neither a difference of sign nor overlapping intervals is a test of a change.", ""]
    return "\n".join(lines)


def _correlation_cell(row: dict, label: str) -> str:
    if not row[f"direction_{label}"]:
        return "– (no interval)"
    return (f"{row[f'r_{label}']:+.2f} [{row[f'ci_low_{label}']:+.2f}, {row[f'ci_high_{label}']:+.2f}] "
            f"({row[f'direction_{label}']})")


def _pick_cell(study_row: pd.Series, predictor: str) -> str:
    chosen = study_row[f"{predictor}_chosen"]
    return f"{chosen} ({study_row[f'{predictor}_regret']:.4f})" if isinstance(chosen, str) else "–"


__all__ = ["StudyComparison", "compare_studies"]
