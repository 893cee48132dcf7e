"""``dastat correlate``: Figure-4 correlations (with intervals and permutation p-values) per pair."""

from __future__ import annotations

import argparse
import difflib

from dastat.cli import _checks as checks
from dastat.cli._checks import split_names
from dastat.cli.common import add_command, add_seed, print_frame, print_json
from dastat.errors import InvalidArgumentError

_SHOWN = ("method", "n", "r", "ci_low", "ci_high", "ci_method", "p_value", "p_perm", "printed")


def add_source(p: argparse.ArgumentParser) -> None:
    """--store / --csv / --reference and the row filters; shared with ``dastat plot``."""
    source = p.add_mutually_exclusive_group()
    source.add_argument("--store", default=None, type=checks.StoreFile(),
                        help="results store (SQLite); default $DASTAT_STORE or results/dastat.sqlite")
    source.add_argument("--csv", default=None, metavar="FILE", type=checks.InputFile(),
                        help="a CSV/Parquet/JSON table with the columns of the store's table")
    source.add_argument("--reference", default=None, choices=["paper"],
                        help="bundled reference data: 'paper' = the points of the paper's Figure 4")
    p.add_argument("--dataset", default=None, type=checks.Column("dataset"), help="keep only rows of this dataset")
    p.add_argument("--teacher", default=None, type=checks.Column("teacher"), help="keep only rows of this teacher")
    p.add_argument("--student", default=None, type=checks.Column("student"), help="keep only rows of this student")
    p.add_argument("--x", default="t_stddev", type=checks.Column("column"), help="x column (default: t_stddev)")
    p.add_argument("--y", default="s_test_loss", type=checks.Column("column"), help="y column (default: s_test_loss)")
    p.add_argument("--by", default="dataset,teacher,student", type=checks.Columns("column"),
                   help="comma-separated group keys, one panel each (default: dataset,teacher,student)")
    add_probe_kind(p)


def add_probe_kind(p: argparse.ArgumentParser) -> None:
    """--protocol/--randomness/--set-size: which probes the store's table joins (shared with export)."""
    unsaid = "default: the only one in the store, else"
    p.add_argument("--protocol", default=None,
                   type=checks.Name("protocol", "dastat.constants:PROTOCOLS", also=("any",)),
                   help=f"probe protocol: fast, paper or any ({unsaid} fast)")
    p.add_argument("--randomness", default=None,
                   type=checks.Name("randomness", "dastat.constants:RANDOMNESS", also=("any",)),
                   help=f"probe randomness: sample, batch or any ({unsaid} sample)")
    p.add_argument("--set-size", type=checks.SetSize(), default=None,
                   help=f"probe set size, or any ({unsaid} 640)")


def probe_kind(args: argparse.Namespace) -> dict:
    return {"protocol": args.protocol, "randomness": args.randomness, "set_size": args.set_size}


def read_source(args: argparse.Namespace, view: str = "table", uses: tuple[str, ...] = ("x", "y", "by")):
    """The filtered table that ``add_source``'s options name, with every column the options in ``uses``
    (and the row filters) name checked against what the table holds."""
    from dastat.stats.sources import read_results, select_rows

    table = read_results(store=args.store, csv=args.csv, reference=args.reference, view=view,
                         **probe_kind(args))
    where = _source_words(args)
    filters = {key: getattr(args, key) for key in ("dataset", "teacher", "student")}
    named = {f"--{key}": [key] for key, value in filters.items() if value is not None}
    for option in uses:
        given = getattr(args, option)
        if given is not None and given != "all":
            named[f"--{option}"] = split_names(given)
    columns = [str(c) for c in table.columns]
    for option, names in named.items():
        for name in names:
            if name not in columns:
                raise InvalidArgumentError(f"{option} names column {name!r}, which {where} lacks."
                                           f"{_near(name, columns)} Its columns: {', '.join(columns)}")
    for key, value in filters.items():
        held = sorted(table[key].dropna().astype(str).unique()) if value is not None else []
        if value is not None and value not in held:
            raise InvalidArgumentError(f"--{key} {value}: {where} has no rows of that {key}.{_near(value, held)} "
                                       f"Its {key}s: {', '.join(held) or 'none'}")
    return select_rows(table, **filters)


def _source_words(args: argparse.Namespace) -> str:
    if args.csv is not None:
        return f"the table in --csv {args.csv}"
    if args.reference is not None:
        return f"--reference {args.reference}"
    return "the store's table" if args.store is None else f"the table of --store {args.store}"


def _near(name: str, known: list[str]) -> str:
    near = difflib.get_close_matches(name, known, n=2)
    return f" Did you mean {' or '.join(map(repr, near))}?" if near else ""


def register(sub) -> None:
    p = add_command(sub, "correlate", _run,
                    help="correlate T. stddev with student test loss per teacher/student pair",
                    description="Pearson, Spearman and Kendall correlations of T. stddev with the students' "
                    "test loss per (dataset, teacher, student), with intervals, scipy's p-values and "
                    "permutation p-values; optionally pooled models and the scheme-selection check.")
    add_source(p)
    p.add_argument("--methods", default="pearson,spearman,kendall",
                   type=checks.Names("correlation method", "dastat.stats.coefficients:METHODS"),
                   help="comma-separated methods: pearson, spearman, kendall (default: all three)")
    p.add_argument("--confidence", type=checks.Number(0, 1, open_low=True, open_high=True), default=0.95,
                   help="interval level (default: 0.95)")
    p.add_argument("--n-resamples", type=checks.integer(0, 10**6), default=9999,
                   help="bootstrap resamples and Monte Carlo pairings, 0..1e6 (default: 9999; 0 skips both)")
    add_seed(p, help="seed of the bootstrap and permutations (default: 0)")
    p.add_argument("--alternative", default="two-sided", choices=["two-sided", "greater", "less"])
    p.add_argument("--pooled", action="store_true", help="also fit the pooled models across pairs")
    p.add_argument("--selection", action="store_true",
                   help="also check whether the lowest T. stddev picks the lowest-loss scheme")
    p.add_argument("--runs", action="store_true",
                   help="also the run-level bootstrap interval (needs --store: reads store.runs())")
    p.add_argument("--predictors", default=None, metavar="LIST", type=checks.Columns("predictor column", also=("all",)),
                   help="also compare these teacher-side predictors head to head (comma-separated columns, "
                   "or 'all' for every known one the table holds): correlations and their differences; "
                   "with --runs also the run bootstrap of each difference")


def _run(args: argparse.Namespace) -> int:
    from dastat.stats import correlate, correlate_runs, format_printed, pooled, selection

    table = read_source(args, uses=("x", "y", "by", "predictors"))
    result = correlate(table, x=args.x, y=args.y, by=args.by, methods=args.methods,
                       confidence=args.confidence, n_resamples=args.n_resamples, seed=args.seed,
                       alternative=args.alternative)
    result["printed"] = [format_printed(r, p) for r, p in zip(result["r"], result["p_value"])]
    extra = {}
    if args.pooled:
        extra["pooled"] = pooled(table, x=args.x, y=args.y, by=args.by, confidence=args.confidence)
    if args.selection:
        extra["selection"] = selection(table, x=args.x, y=args.y, by=args.by)
    runs = read_source(args, view="runs") if args.runs else None
    if args.runs:
        extra["runs"] = correlate_runs(runs, x=args.x, y=args.y, by=args.by, methods=args.methods,
                                       confidence=args.confidence, seed=args.seed)
    if args.predictors:
        from dastat.stats import compare_predictors

        extra["predictors"] = compare_predictors(table, predictors=args.predictors, y=args.y, by=args.by,
                                                 methods=args.methods, runs=runs, confidence=args.confidence,
                                                 n_resamples=args.n_resamples, seed=args.seed)
    if args.json:
        payload = {"correlations": result.to_dict(orient="records")}
        for name, value in extra.items():
            records = name in ("selection", "predictors")
            payload[name] = value.to_dict() if records else value.to_dict(orient="records")
        print_json(payload)
        return 0
    keys = [k for k in result.columns if k not in result.columns[result.columns.get_loc("x"):]]
    print_frame(result[[*keys, *_SHOWN]], floatfmt="{:.4g}")
    if "pooled" in extra:
        print("\nPooled across pairs:")
        print_frame(extra["pooled"][["model", "term", "estimate", "se", "ci_low", "ci_high", "p_value",
                                     "n_groups", "tau2", "i2", "converged"]], floatfmt="{:.4g}")
    if "selection" in extra:
        sel = extra["selection"]
        print(f"\nScheme selection: lowest T. stddev picks the lowest-loss scheme in {sel.frac_best:.0%} of "
              f"{sel.n_pairs} pairs; mean regret {sel.mean_regret:.4g}, max {sel.max_regret:.4g}"
              + ("" if sel.frac_within_noise != sel.frac_within_noise
                 else f"; within the best's seed noise in {sel.frac_within_noise:.0%}"))
        print_frame(sel.pairs, floatfmt="{:.4g}")
    if "runs" in extra:
        print("\nRun-level bootstrap (probe and student runs resampled within each scheme):")
        print_frame(extra["runs"], floatfmt="{:.4g}")
    if "predictors" in extra:
        _print_predictors(extra["predictors"], keys)
    return 0


def _print_predictors(comparison, keys: list[str]) -> None:
    correlations, differences = (frame.fillna({k: "" for k in keys}) for frame in
                                 (comparison.correlations, comparison.differences))  # pooled rows: no keys
    print("\nPredictors of the student loss (each oriented by its sign: r > 0 = lower value, lower loss):")
    print_frame(correlations[["level", *keys, "predictor", "sign", "method", "n", "r", "ci_low",
                                         "ci_high", "p_value"]], floatfmt="{:.4g}")
    print("\nDifferences r_a - r_b, oriented (declared signs) and strength (|r|): Williams' t for Pearson, "
          "bootstrap over schemes for ranks; pooled rows are a fixed-effect summary of the pairs in r, "
          "schemes resampled jointly:")
    print_frame(differences[["level", *keys, "comparison", "predictor_a", "predictor_b", "method", "test", "n",
                             "diff", "ci_low", "ci_high", "p_value"]], floatfmt="{:.4g}")
