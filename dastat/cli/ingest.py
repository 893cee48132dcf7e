"""``dastat ingest PATH...``: read results logs of other tools (and dastat's) into the store."""

from __future__ import annotations

import argparse

from dastat.cli import _checks as checks
from dastat.cli.common import add_command, add_store, key_values, print_json


def run(args: argparse.Namespace) -> int:
    from dastat import store as results
    from dastat.store.ingest import ingest

    mapping = key_values(args.map, "--map", "dataset=cifar100")
    constants = key_values(args.set, "--set", "dataset=cifar100")
    with results.open(args.store) as store:
        summary = ingest(args.paths, store, mapping=mapping, constants=constants)
        path = store.path
    if args.json:
        print_json({"store": str(path), **summary.to_dict()})
        return summary.exit_code
    for item in summary.read:
        print(f"{item['status']:>9}  {item['parser']:<20} probes {item['n_probes']:>3}  students "
              f"{item['n_students']:>3}  epochs {item['n_epochs']:>5}  {item['path']}")
    for note in summary.notes:
        print(f"     note  {note}")
    for kind, names in summary.unknown_names.items():
        shown = [name if len(name) <= 60 else f"{name[:40]}... ({len(name)} characters)" for name in names]
        print(f"  unknown  {kind} names kept verbatim: {', '.join(shown)}")
    for item in summary.skipped:
        print(f"  skipped  {item['error']}")
    print(f"{len(summary.read)} file(s) read, {len(summary.skipped)} skipped, {summary.ignored} other file(s) "
          f"ignored; store {path}")
    return summary.exit_code


def register(sub) -> None:
    p = add_command(sub, "ingest", run, help="read results logs (reference code, mdistiller, RepDistiller, "
                    "dastat, CSV/JSON/Parquet tables) into the results store",
                    description="Read files and folders (recursively) into the results store. Exit 0 when "
                    "every file was read, 1 when some were skipped, 2 on a usage error.")
    p.add_argument("paths", nargs="+", metavar="PATH", type=checks.InputPath(), help="files or folders to read")
    p.add_argument("--map", action="append", metavar="COLUMN=FIELD", type=checks.KeyValue("--map loss=test_loss"),
                   help="for tables: read COLUMN as record FIELD (repeatable), e.g. --map loss=test_loss")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", type=checks.KeyValue("--set dataset=cifar100"),
                   help="set FIELD on every record read (repeatable), e.g. --set dataset=cifar100")
    add_store(p)
