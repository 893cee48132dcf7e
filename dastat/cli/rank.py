"""``dastat rank``: rank DA schemes for a teacher by T. stddev, on common random numbers."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from dastat.cli import common
from dastat.cli.probe import (
    POOL_NOTE,
    add_probe_options,
    load_inputs,
    open_store,
    probe_options,
    record,
    say,
    set_line,
    warnings_for,
)


def register(sub) -> None:
    p = common.add_command(
        sub, "rank", _run,
        help="rank DA schemes for a teacher by T. stddev (lower is better); runs on the embedded default",
    )
    p.add_argument("--schemes", default="all",
                   type=common.scheme_names(),
                   help="comma-separated scheme names, or 'all' (the paper's schemes that need no student, "
                        "plus cutmixpick_s with --student)")
    p.add_argument("--plot", default=None, type=common.checks.OutputFile(common.checks.FIGURE_SUFFIXES),
                   help="bar chart file (default: next to the store)")
    add_probe_options(p, rank=True)


def _run(args: argparse.Namespace) -> int:
    with open_store(args) as db:
        return _rank(args, db)


def _rank(args: argparse.Namespace, db) -> int:
    from dastat import augment, plot, probe
    from dastat import store as results_store

    teacher, dataset, student = load_inputs(args)
    schemes = "all" if args.schemes == "all" else augment.split_names(args.schemes)
    ranking = probe.rank(teacher, dataset, schemes, probe_options(args), student=student, device=args.device,
                         progress=common.show_progress(args))
    table, results = ranking.table, ranking.results
    where = record(db, results)
    chart = Path(args.plot) if args.plot else (
        Path(where or results_store.default_path()).parent / f"rank_{_slug(dataset.name)}_{_slug(teacher.arch)}.png"
    )
    chart.parent.mkdir(parents=True, exist_ok=True)
    plot.ranking(table).savefig(chart, dpi=120, bbox_inches="tight")
    warnings = warnings_for(results, num_classes=dataset.num_classes, args=args)
    if args.json:
        common.print_json({"ranking": table.to_dict(orient="records"), "store": where, "plot": str(chart),
                           "warnings": warnings})
        return 0
    first = results[0]
    print(f"T. stddev ranking on {dataset.name} (teacher {first.teacher or 'custom'}, protocol {first.protocol}, "
          f"randomness {first.randomness}, seed {first.seed}); lower is better.")
    print(f"Up to {set_line(max(results, key=lambda r: r.n_sets))}; column 'sets' counts them per scheme.")
    print(_format(table))
    print("'<' : significantly lower than the next scheme (paired jackknife, 95%); '=' : tied (the difference's "
          f"interval within {100 * args.min_diff:g}% of T. stddev); '~' : not resolved.")
    print("floor = the value of a perfect one-hot teacher on the same sets; rel = T. stddev / floor.")
    if first.pool_dependent:
        print(POOL_NOTE)
    if where:
        print(f"recorded in {where}")
    print(f"chart: {chart}")
    say(warnings, "rank")
    return 0


def _format(table) -> str:
    lines = [f"{'rank':>4}  {'scheme':<14} {'T. stddev':>10}  {'95% CI':<23} {'±%':>5} {'rel':>6} {'sets':>5}  next"]
    for row in table.itertuples():
        mark = "" if row.significant is None else ("<" if row.significant else "=" if row.tied else "~")
        lines.append(
            f"{row.rank:>4}  {row.scheme:<14} {row.t_stddev:>10.6f}  [{row.ci_low:.6f}, {row.ci_high:.6f}] "
            f"{100 * (row.ci_high - row.ci_low) / 2 / row.t_stddev:>5.1f} {row.t_stddev_rel:>6.3f} "
            f"{row.n_sets:>5}  {mark}" + ("" if math.isnan(row.p_value) else f" (p={row.p_value:.3f})")
        )
    return "\n".join(lines)


def _slug(text: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text or "teacher")
