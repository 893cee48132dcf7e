"""``dastat export``: write the store's tables as CSV, Parquet or JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from dastat.cli.common import add_command, add_store, print_json


def run(args: argparse.Namespace) -> int:
    from dastat import store as results

    out = Path(args.out) if args.out else Path("results") / f"{args.what}.{args.format}"
    table_kwargs = {}
    if args.what == "table":
        table_kwargs = {"protocol": None if args.protocol == "any" else args.protocol,
                        "randomness": None if args.randomness == "any" else args.randomness,
                        "set_size": None if args.set_size == 0 else args.set_size}
    with results.open(args.store, readonly=True) as store:
        written = store.export(out, args.format, what=args.what, **table_kwargs)
    if args.json:
        print_json({"path": str(written), "format": args.format, "what": args.what})
    else:
        print(f"wrote {written}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "export", run, help="write the store's students, probes, runs or joined table to a file")
    p.add_argument("--format", choices=("csv", "parquet", "json"), default="csv", help="file format (default csv)")
    p.add_argument("--out", default=None, help="output file (default results/<what>.<format>)")
    p.add_argument("--what", choices=("table", "students", "probes", "runs", "curves"), default="table",
                   help="what to export (default: the joined, seed-aggregated table)")
    p.add_argument("--protocol", default="fast", help="table: probe protocol (fast, paper, or any; default fast)")
    p.add_argument("--randomness", default="sample", help="table: probe randomness (sample, batch or any)")
    p.add_argument("--set-size", type=int, default=640, help="table: probe set size (0: keep each apart)")
    add_store(p)
