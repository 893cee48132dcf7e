"""``dastat probe``: T. stddev of one scheme for one teacher, recorded in the results store."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from dataclasses import fields

from dastat.cli import common
from dastat.probe import ProbeOptions


def add_probe_options(p: argparse.ArgumentParser, *, rank: bool = False) -> None:
    """Options shared by ``probe`` and ``rank``: the inputs, and :class:`dastat.probe.ProbeOptions`'s fields
    (names, types, ranges and defaults from the fields themselves; ``resolve`` and ``min_diff`` with ``rank``)."""
    common.add_teacher(p)
    common.add_data(p)
    p.add_argument("--student", default=None, type=common.checks.InputFile(),
                   help="student checkpoint (needed by cutmixpick_s, cutmixpick_kl)")
    for f in fields(ProbeOptions):
        if f.metadata["cli"] and (rank or not f.metadata["rank_only"]):
            _add_field(p, f)
    p.add_argument("--no-record", action="store_true", help="do not write the result to the store")
    common.add_device(p)
    common.add_store(p)


def _add_field(p: argparse.ArgumentParser, f) -> None:
    """``--name`` for field ``f`` of ProbeOptions."""
    meta, flag = f.metadata, "--" + f.name.replace("_", "-")
    if isinstance(f.default, bool):
        p.add_argument(flag, action="store_true", help=meta["help"])
        return
    shown = "" if f.default is None else f" (default: {f.default})"
    if meta["choices"] is not None:
        p.add_argument(flag, choices=meta["choices"], default=f.default, help=meta["help"] + shown)
        return
    kind = common.checks.Number(meta["low"], meta["high"], integer=isinstance(f.default, int),
                                open_low=meta["open_low"], open_high=meta["open_high"])
    p.add_argument(flag, type=kind, default=f.default, help=f"{meta['help']}, {kind.rule}{shown}".replace("%", "%%"))


def probe_options(args: argparse.Namespace) -> ProbeOptions:
    """The ProbeOptions of the command line (the fields its parser has)."""
    return ProbeOptions(**{f.name: getattr(args, f.name) for f in fields(ProbeOptions) if hasattr(args, f.name)})


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
        capped = result.n_sets >= args.max_sets
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
    result = probe.measure_scheme(teacher, dataset, args.scheme, probe_options(args), student=student,
                                  device=args.device, progress=common.show_progress(args))
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
