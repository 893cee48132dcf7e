"""``dastat compare``: what changes between finished studies that differ in one setting (e.g. the pool size)."""

from __future__ import annotations

import argparse
import sys

from dastat.cli import _checks as checks
from dastat.cli.common import add_command, print_json


def register(sub) -> None:
    p = add_command(sub, "compare", _run, help="compare finished studies pair by pair (e.g. two pool sizes)",
                    description="Read the exported files of two or more `dastat study` folders (nothing is "
                    "recomputed) and print, per teacher -> student pair they share, each study's scheme effect and "
                    "best scheme, and each predictor's Spearman direction in each study with what the intervals "
                    "back: a reversal, the same direction, or not decided.")
    p.add_argument("folders", nargs="+", type=checks.InputFolder(), metavar="DIR",
                   help="study output folders (at least 2), e.g. results/studies/digits")
    p.add_argument("--labels", default=None, type=checks.Columns("label"), metavar="A,B",
                   help="comma-separated names of the studies, one per DIR (default: each config.yaml's name)")
    p.add_argument("--out", default=None, type=checks.OutputFile(("md",)), metavar="FILE.md",
                   help="also write the page to FILE.md and its tables to FILE-table.csv, FILE-changes.csv "
                   "and FILE-best.csv")


def _run(args: argparse.Namespace) -> int:
    from dastat.study import compare_studies

    labels = None if args.labels is None else checks.split_names(args.labels)
    comparison = compare_studies(args.folders, labels=labels)
    written = [str(p) for p in comparison.write(args.out)] if args.out else []
    if args.json:
        print_json({**comparison.to_dict(), "written": written})
    else:
        print(comparison.to_markdown(), end="")
        if written:
            print(f"dastat compare: wrote {', '.join(written)}", file=sys.stderr)
    return 0
