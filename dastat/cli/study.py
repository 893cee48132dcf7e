"""``dastat study``: the paper's experiment end to end, from teacher to Figure 4 and a report."""

from __future__ import annotations

import argparse
import sys

from dastat.cli import _checks as checks
from dastat.cli.common import (
    add_command,
    add_device,
    add_root,
    method_names,
    print_json,
    scheme_names,
    show_progress,
)
from dastat.constants import EXECUTORS


def register(sub) -> None:
    p = add_command(sub, "study", _run, help="run the paper's experiment end to end (teacher to report)",
                    description="Teacher (given or trained), T. stddev of every scheme, students for every "
                    "scheme x seed (skipping finished ones), correlations, Figure 4 and report.md, all under --out.")
    p.add_argument("--preset", default="digits",
                   type=checks.FileOrName(checks.Name("preset", "dastat.study:list_presets", also=("digits",))),
                   help="digits (default, embedded data), cifar100, tinyimagenet, or a study YAML file "
                   "(preset: NAME plus keys to override)")
    p.add_argument("--seeds", type=checks.integer(1, 1000), default=None,
                   help="number of student seeds per scheme (0..N-1), 1..1000")
    p.add_argument("--schemes", default=None,
                   type=scheme_names(),
                   help="'all' or a comma-separated list of schemes (default: the preset's)")
    p.add_argument("--epochs", type=checks.integer(1), default=None, help="student epochs (default: the preset's)")
    p.add_argument("--methods", default=None, type=method_names(),
                   help="comma-separated distillation methods of the students, e.g. kd,crd (default: kd)")
    p.add_argument("--teacher-dir", default=None, type=checks.InputFolder(),
                   help="folder of RepDistiller teachers <arch>_vanilla/ckpt_epoch_240.pth (missing ones are trained)")
    p.add_argument("--paper-protocol", action="store_true", help="also probe with the paper protocol")
    p.add_argument("--executor", default="local", choices=EXECUTORS,
                   help="where students are trained: here (default) or on Slurm through submitit")
    p.add_argument("--jobs", type=checks.integer(1, 256), default=None,
                   help="concurrent student runs for the local executor, 1..256")
    p.add_argument("--cohort-size", type=checks.integer(1, 1024), default=None,
                   help="students of one pair trained together per process, 1..1024 (default: as many as fit "
                   "the device's free memory; 1: each alone)")
    p.add_argument("--out", default=None, type=checks.OutputFolder(),
                   help="output folder (default: results/studies/<preset>)")
    p.add_argument("--quick", action="store_true",
                   help="CI size: one pair, 3 schemes, 1 seed, 1 epoch, a few probe sets (same code path)")
    add_root(p)
    add_device(p)


def _run(args: argparse.Namespace) -> int:
    from dastat import augment
    from dastat.constants import PAPER_SCHEMES
    from dastat.study import load_config, run_study

    schemes = None
    if args.schemes is not None:
        schemes = PAPER_SCHEMES if args.schemes == "all" else tuple(augment.split_names(args.schemes))
    config = load_config(args.preset, quick=args.quick, seeds=None if args.seeds is None else tuple(range(args.seeds)),
                         schemes=schemes, epochs=args.epochs, teacher_dir=args.teacher_dir, root=args.root,
                         jobs=args.jobs, methods=None if args.methods is None else
                         tuple(m.strip() for m in args.methods.split(",") if m.strip()))
    if args.paper_protocol and "paper" not in config.probe_protocols:
        from dataclasses import replace

        config = replace(config, probe_protocols=(*config.probe_protocols, "paper"))
    out = args.out or f"results/studies/{config.name}{'-quick' if config.quick else ''}"
    log = None if args.json else (lambda line: print(f"[study] {line}", file=sys.stderr, flush=True))
    result = run_study(config, out, executor=args.executor, device=args.device, progress=show_progress(args), log=log,
                       cohort_size=args.cohort_size)
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"study {config.name}: {result.elapsed_s / 60:.1f} min; report {result.report}")
        corr = result.analysis.correlations
        if not corr.empty:
            for row in corr[corr["method"] == "spearman"].itertuples(index=False):
                print(f"  {row.teacher} -> {row.student}: Spearman {row.r:+.3f} "
                      f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}] (n = {row.n})")
        for failure in result.failed:
            print(f"  FAILED {failure['job']}: {failure['error']}")
    return 1 if result.failed else 0
