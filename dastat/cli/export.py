"""``dastat export``: write the store's tables as CSV, Parquet or JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from dastat.cli import _checks as checks
from dastat.cli.common import add_command, add_store, print_json
from dastat.cli.correlate import add_probe_kind, probe_kind


def run(args: argparse.Namespace) -> int:
    from dastat import store as results
    from dastat.errors import DataError
    from dastat.stats.sources import choose_probe_kind, explain_empty

    out = Path(args.out) if args.out else Path("results") / f"{args.what}.{args.format}"
    with results.open(args.store, readonly=True) as store:
        table_kwargs = {}
        if args.what == "table":
            probes = store.probes()
            table_kwargs = choose_probe_kind(probes, **probe_kind(args))
            if store.table(**table_kwargs).empty:
                raise DataError(explain_empty(str(store.path), probes, store.students(), table_kwargs))
        written = store.export(out, args.format, what=args.what, **table_kwargs)
    if args.json:
        print_json({"path": str(written), "format": args.format, "what": args.what})
    else:
        print(f"wrote {written}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "export", run, help="write the store's students, probes, runs or joined table to a file")
    p.add_argument("--format", choices=("csv", "parquet", "json"), default="csv", help="file format (default csv)")
    p.add_argument("--out", default=None, type=checks.OutputFile(),
                   help="output file (default results/<what>.<format>)")
    p.add_argument("--what", choices=("table", "students", "probes", "runs", "curves"), default="table",
                   help="what to export (default: the joined, seed-aggregated table)")
    add_probe_kind(p)
    add_store(p)
