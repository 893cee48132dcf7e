"""``dastat sweep CONFIG.yaml``: run a grid of training and probe jobs, skipping finished ones."""

from __future__ import annotations

import argparse

from dastat.cli import _checks as checks
from dastat.cli.common import add_command, add_store, print_json
from dastat.constants import EXECUTORS


def register(sub) -> None:
    p = add_command(sub, "sweep", _run, help="run a grid of training/probe jobs from a YAML file",
                    description="Expand CONFIG.yaml (pairs x schemes x seeds x epoch factors, plus probe jobs), "
                    "skip jobs already in the results, run the rest locally or on Slurm (submitit).")
    p.add_argument("config", type=checks.InputFile(), help="sweep file (YAML); see dastat.runs.jobs for the keys")
    p.add_argument("--executor", default="local", choices=EXECUTORS,
                   help="local (default), slurm via submitit, or submitit's local/debug executors")
    p.add_argument("--jobs", type=checks.integer(1, 256), default=1,
                   help="concurrent jobs for the local executor, 1..256 (default 1)")
    p.add_argument("--cohort-size", type=checks.integer(1, 1024), default=None,
                   help="training jobs of one pair trained together per process, 1..1024 (default: the file's "
                   "cohort_size, else as many as fit the device's free memory; 1: each job alone)")
    p.add_argument("--dry-run", action="store_true", help="list the jobs and what would be skipped, run nothing")
    add_store(p)


def _run(args: argparse.Namespace) -> int:
    from dastat.runs import run_sweep

    summary = run_sweep(args.config, executor=args.executor, jobs=args.jobs, store=args.store, dry_run=args.dry_run,
                        cohort_size=args.cohort_size)
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['jobs']} jobs: {len(summary['skipped'])} already done, {len(summary['ok'])} ran, "
              f"{len(summary['failed'])} failed" + (" (dry run)" if args.dry_run else ""))
        for name in summary["todo"] if args.dry_run else []:
            print(f"  to run: {name}")
        for failure in summary["failed"]:
            print(f"  FAILED {failure['job']}: {failure['error']}")
    return 1 if summary["failed"] else 0
