"""``dastat plot``: the paper's Figure-4 grid or a T. stddev ranking chart, as PNG, SVG or PDF."""

from __future__ import annotations

import argparse

from dastat.cli import _checks as checks
from dastat.cli.common import add_command, print_json
from dastat.cli.correlate import add_source, read_source


def register(sub) -> None:
    p = add_command(sub, "plot", _run, help="draw Figure 4 (T. stddev vs student test loss) or a ranking chart",
                    description="Draw the Figure-4 grid (one panel per dataset/teacher/student, with "
                    "Pearson/Spearman/Kendall in each title) or the ranking bar chart of a probe table.")
    add_source(p)
    p.add_argument("--out", required=True, metavar="FILE", type=checks.OutputFile(checks.FIGURE_SUFFIXES),
                   help="output file: .png, .svg or .pdf")
    p.add_argument("--kind", default="fig4", choices=["fig4", "ranking", "predictors"],
                   help="fig4: scatter grid (default); ranking: T. stddev bars with intervals "
                   "(reads the store's probes, latest per scheme, or the CSV as a probe table); "
                   "predictors: student loss against every predictor the table holds, one row per pair")
    p.add_argument("--ncols", type=checks.integer(1, 50), default=4, help="panels per row for fig4, 1..50 (default: 4)")
    p.add_argument("--dpi", type=checks.integer(10, 600), default=150,
                   help="resolution of PNG output, 10..600 (default: 150)")


def _run(args: argparse.Namespace) -> int:
    from dastat.plot import fig4, predictor_grid, ranking, save_figure

    if args.kind == "ranking":
        figure = ranking(_one_teacher(read_source(args, view="probes", uses=("x",))), x=args.x, duplicates="latest")
    elif args.kind == "predictors":
        figure = predictor_grid(read_source(args, uses=("y", "by")), y=args.y, by=args.by)
    else:
        figure = fig4(read_source(args), x=args.x, y=args.y, by=args.by, ncols=args.ncols)
    path = save_figure(figure, args.out, dpi=args.dpi)
    if args.json:
        print_json({"out": str(path), "kind": args.kind})
    else:
        print(f"wrote {path}")
    return 0


def _one_teacher(probes):
    """A ranking is of one teacher on one dataset: say which option picks one when the probes hold more."""
    from dastat.errors import InvalidArgumentError

    for key in ("dataset", "teacher"):
        held = sorted(probes[key].dropna().astype(str).unique()) if key in probes.columns else []
        if len(held) > 1:
            raise InvalidArgumentError(f"--kind ranking draws one teacher on one dataset, and these probes hold "
                                       f"{len(held)} {key}s ({', '.join(held)}); pick one with --{key} NAME")
    return probes
