"""``dastat bench``: speed ratios measured in one run against same-machine baselines."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from dastat.cli import _checks as checks
from dastat.cli.common import add_command, add_device, method_name, print_json

# Each target is a module with ``run(device=..., quick=...) -> dict``.
_TARGETS = {"augment": "dastat.bench.augment", "probe": "dastat.bench.probe", "train": "dastat.bench.train",
            "gpu": "dastat.bench.gpu"}
_DEFAULT = ("augment", "probe", "train")  # gpu needs CUDA: only when named


def register(sub) -> None:
    p = add_command(sub, "bench", _run, help="measure speed against baselines; writes results/bench/*.json")
    p.add_argument("targets", nargs="*", choices=[*_TARGETS, []], metavar="TARGET",
                   help=f"what to measure: {', '.join(_TARGETS)} (default: {', '.join(_DEFAULT)}); gpu: every "
                   "GPU figure of docs/benchmarks.md in one run, written to gpu.json")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, not for reporting)")
    p.add_argument("--cohort", type=checks.integer(1, 1024), default=None, metavar="N",
                   help="train: measure a cohort of N students (the digits study's schemes x seeds) against "
                   "the same N runs one after another; writes train_cohort.json")
    p.add_argument("--out", default="results/bench", type=checks.OutputFolder(), help="folder for the JSON results")
    p.add_argument("--method", action="append", default=[], metavar="NAME",
                   type=method_name("all"),
                   help="train: img/s of each distillation method's step against plain KD, resnet32x4 -> "
                   "resnet8x4 (repeatable; `all` for every method), instead of the trainer benchmark")
    add_device(p)


def _run(args: argparse.Namespace) -> int:
    from dastat.errors import InvalidArgumentError

    for flag, given in (("--method", args.method), ("--cohort", args.cohort)):
        if given and args.targets and "train" not in args.targets:
            raise InvalidArgumentError(f"{flag} measures the train target; add `train` to the targets "
                                       f"({' '.join(args.targets)}) or leave {flag} out")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for target in args.targets or list(_DEFAULT):
        if target == "train" and args.cohort is not None:
            from dastat.bench import cohort as cohort_bench

            results["train_cohort"] = cohort_bench.run(device=args.device, quick=args.quick,
                                                       out=out / "train_cohort.json", cohort=args.cohort)
            if not args.json:
                print(cohort_bench.summary(results["train_cohort"]))
            continue
        module = importlib.import_module(_TARGETS[target])
        if target == "train" and args.method:
            from dastat.train.methods import list_methods

            names = list(list_methods()) if "all" in args.method else args.method
            results["train_methods"] = module.run_methods(names, device=args.device, quick=args.quick,
                                                          out=out / "train_methods.json")
            continue
        results[target] = module.run(device=args.device, quick=args.quick, out=out / f"{target}.json")
    if args.json:
        print_json(results)
        return 0
    for name, result in results.items():
        print(_summary(name, result, out))
    return 0


def _summary(name: str, result: dict, out: Path) -> str:
    """One line per target: its targets met (where it has any), what was left out, and the file written."""
    lines = []
    targets = result.get("targets") if isinstance(result, dict) else None
    if isinstance(targets, list) and targets:
        lines.append(f"{name}: {sum(bool(t.get('met')) for t in targets)} of {len(targets)} targets met")
    lines += [f"{name}: {note}" for note in (result.get("left_out") or [] if isinstance(result, dict) else [])]
    lines.append(f"{name}: wrote {out / f'{name}.json'}")
    return "\n".join(lines)
