"""``dastat probe``: T. stddev of one scheme for one teacher, recorded in the results store."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys

from dastat.cli import common
from dastat.constants import PROTOCOLS, RANDOMNESS


def add_probe_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``probe`` and ``rank``."""
    common.add_teacher(p)
    common.add_data(p)
    p.add_argument("--student", default=None, type=common.checks.InputFile(),
                   help="student checkpoint (needed by cutmixpick_s, cutmixpick_kl)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="fast",
                   help="fast: stop at --rtol (default); paper: the reference procedure, --epochs passes")
    p.add_argument("--rtol", type=common.checks.Number(0, 1, open_low=True, open_high=True), default=0.05,
                   help="stop when the 95%% interval's half-width is at most this fraction (default 0.05)")
    p.add_argument("--max-sets", type=common.checks.integer(2), default=None,
                   help="stop after this many sets (fast; default 2000)")
    p.add_argument("--epochs", type=common.checks.integer(1), default=10,
                   help="passes over the data (paper protocol; default 10)")
    p.add_argument("--randomness", choices=RANDOMNESS, default=None,
                   help="draw scheme parameters per image or once per batch (default: per protocol)")
    common.add_batch_size(p)
    common.add_seed(p)
    p.add_argument("--amp", action="store_true", help="bf16 autocast for the teacher (CUDA, or a CPU with fast bf16)")
    p.add_argument("--no-record", action="store_true", help="do not write the result to the store")
    common.add_device(p)
    common.add_store(p)


def probe_options(args: argparse.Namespace) -> dict:
    return {"protocol": args.protocol, "rtol": args.rtol, "max_sets": args.max_sets, "epochs": args.epochs,
            "randomness": args.randomness, "batch_size": args.batch_size, "seed": args.seed,
            "device": args.device, "amp": args.amp, "progress": common.show_progress(args)}


def load_inputs(args: argparse.Namespace):
    """(teacher, dataset, student) from the command line."""
    from dastat import models
    from dastat.device import resolve_device

    device = resolve_device(args.device)
    dataset = common.load_dataset(args)
    if args.batch_size > len(dataset):
        from dastat.errors import InvalidArgumentError

        raise InvalidArgumentError(f"--batch-size {args.batch_size} is more than the {len(dataset)} images of "
                                   f"{dataset.name}; give --batch-size at most {len(dataset)} (or more --max-images)")
    teacher = common.load_teacher(args, dataset, device)
    student = None
    if args.student:
        student = models.load_student(args.student, device=device, trust=args.trust_checkpoint, dataset=dataset)
    return teacher, dataset, student


def open_store(args: argparse.Namespace):
    """The store the results will go to, opened and checked before any compute, as a context that closes it
    however the command ends, so that no -wal/-shm is left beside it (it gives None with --no-record)."""
    if args.no_record:
        return contextlib.nullcontext()
    from dastat import store as results_store

    return results_store.open(args.store)


def record(db, results) -> str | None:
    """Write the results to ``db`` (from :func:`open_store`) and close it; returns its path (None: no store)."""
    if db is None:
        return None
    with db:
        for result in results:
            db.add_probe(result.to_dict())
        return str(db.path)


POOL_NOTE = ("note: the dataset holds fewer than 20 sets' worth of images, so this paper-protocol value depends on "
             "its size; the fast protocol measures the pool-free quantity (docs/method.md, \"Protocols\")")


def set_line(result) -> str:
    """What a set is and how many were closed, the same words for ``probe`` and ``rank``."""
    units = f" = {result.n_units} independent batches" if result.units_per_set > 1 else ""
    return f"{result.n_sets} sets of {result.set_size} rows ({result.set_size // 2} images and their x'){units}"


# A teacher whose top-1 on x is below this multiple of chance (1 / classes) is about as good as a guess.
_NEAR_CHANCE = 1.5


def warnings_for(results, *, num_classes: int, args: argparse.Namespace) -> list[str]:
    """What a user should hear beside the numbers: a teacher near chance, an interval wider than the --rtol
    asked for because the probe stopped at --max-sets first."""
    said = []
    acc = min(r.teacher_acc_x for r in results)
    if acc < _NEAR_CHANCE / num_classes:
        said.append(f"the teacher's top-1 on x is {100 * acc:.1f}%, near chance for {num_classes} classes "
                    f"({100 / num_classes:.1f}%): its T. stddev says little about the schemes; check --teacher, "
                    "--arch, --mean/--std and --data")
    for result in results:
        capped = args.max_sets is not None and result.n_sets >= args.max_sets
        if args.protocol == "fast" and capped and result.rel_halfwidth > args.rtol:
            said.append(f"{result.scheme}: the 95% interval is ±{100 * result.rel_halfwidth:.0f}% of T. stddev "
                        f"after {result.n_sets} sets, wider than --rtol {args.rtol:g}; raise --max-sets for a "
                        "value that can rank schemes")
    return said


def say(warnings: list[str], command: str) -> None:
    for line in warnings:
        print(f"dastat {command}: warning: {line}", file=sys.stderr)


def register(sub) -> None:
    p = common.add_command(sub, "probe", _run, help="T. stddev of one DA scheme for a teacher, with its interval")
    p.add_argument("--scheme", required=True, type=common.scheme_name(), help="DA scheme (see `dastat info`)")
    add_probe_options(p)


def _run(args: argparse.Namespace) -> int:
    with open_store(args) as db:
        return _probe(args, db)


def _probe(args: argparse.Namespace, db) -> int:
    from dastat import probe

    teacher, dataset, student = load_inputs(args)
    result = probe.measure_scheme(teacher, dataset, args.scheme, student=student, **probe_options(args))
    where = record(db, [result])
    warnings = warnings_for([result], num_classes=dataset.num_classes, args=args)
    if args.json:
        common.print_json({**result.to_dict(), "store": where, "warnings": warnings})
        return 0
    print(f"{result.scheme} on {result.dataset} (teacher {result.teacher}, protocol {result.protocol}, "
          f"randomness {result.randomness}, seed {result.seed})")
    print(f"  T. stddev     {result.t_stddev:.6g}  95% CI [{result.ci_low:.6g}, {result.ci_high:.6g}] "
          f"(±{100 * result.rel_halfwidth:.1f}%)")
    print(f"  floor         {result.floor:.6g}  (t_stddev_rel {result.t_stddev_rel:.3f})")
    print(f"  T. CE stddev  {result.t_ce_stddev:.6g}")
    print(f"  entropy       x {result.mean_entropy_x:.4f}   x' {result.mean_entropy_xprime:.4f}")
    acc_xp = "n/a" if math.isnan(result.teacher_acc_xprime) else f"{100 * result.teacher_acc_xprime:.2f}%"
    print(f"  teacher acc   x {100 * result.teacher_acc_x:.2f}%   x' {acc_xp}")
    for name in ("affinity", "ce_xprime", "consistency", "sharpness"):  # docs/method.md, "Teacher-side predictors"
        low, high = getattr(result, f"{name}_ci_low"), getattr(result, f"{name}_ci_high")
        ci = "" if math.isnan(low) else f"  95% CI [{low:.6g}, {high:.6g}]"
        print(f"  {name:<13} {getattr(result, name):.6g}{ci}")
    print(f"  {set_line(result)}, {result.n_teacher_forwards} teacher forwards, {result.elapsed_s:.1f} s")
    if result.pool_dependent:
        print(POOL_NOTE)
    if where:
        print(f"  recorded in {where}")
    say(warnings, "probe")
    return 0
