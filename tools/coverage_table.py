"""Write the coverage table of the probe's interval: before (delta method) and after (design-aware jackknife).

Usage: ``nice python tools/coverage_table.py [--reps 2000] [--out results/coverage/coverage.csv] [--only NAME]
[--conditions 24 30 88 0.05 0.02] [--methods delta jackknife]``; ``--markdown CSV...`` prints
finished tables as Markdown.

Every cell runs the functions of ``tests/probe/test_coverage.py`` (the same scenarios, seeds and stopping
rule as its slow tests) for each method: ``delta`` (the delta-method interval and its stopping rule, the
method before), ``jackknife_iid`` (the jackknife taking the sets as independent; stream scenarios only,
where it differs) and ``jackknife`` (the probe's interval, with the stream's design). Rows: scenario,
condition (``sets=N`` or ``stop rtol=R``), method, coverage, its Monte Carlo standard error, the mean
number of sets at the stop, and the paired difference's false-positive rate (fixed set counts). The
CPU seconds of each row are kept so the cost of the table is on record.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _suite():
    spec = importlib.util.spec_from_file_location("coverage_suite", ROOT / "tests/probe/test_coverage.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def markdown(paths: list[Path]) -> str:
    """The CSV rows as a Markdown table: one row per scenario, "before → after" per condition."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    conditions: list[str] = []
    for path in paths:
        with path.open() as fh:
            for row in csv.DictReader(fh):
                cells.setdefault((row["scenario"], row["condition"]), {})[row["method"]] = row["coverage"]
                if row["condition"] not in conditions:
                    conditions.append(row["condition"])
    scenarios = list(dict.fromkeys(name for name, _ in cells))
    lines = ["| scenario | " + " | ".join(conditions) + " |", "|---" * (len(conditions) + 1) + "|"]
    for name in scenarios:
        shown = []
        for cond in conditions:
            got = cells.get((name, cond), {})
            steps = [got[m] for m in ("delta", "jackknife_iid", "jackknife") if m in got]
            shown.append(" → ".join(f"{float(v):.3f}" for v in steps) if steps else "—")
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "results/coverage/coverage.csv")
    parser.add_argument("--only", default=None, help="run only the scenarios whose name contains this")
    parser.add_argument("--conditions", nargs="+", default=["24", "30", "88", "0.05", "0.02"],
                        help="fixed set counts and stopping-rule rtols to run (default: all)")
    parser.add_argument("--methods", nargs="+", default=["delta", "jackknife", "jackknife_iid"],
                        choices=["delta", "jackknife", "jackknife_iid"], help="methods to run (default: all)")
    parser.add_argument("--markdown", nargs="+", type=Path, default=None,
                        help="print the given CSV files as a Markdown table instead of running")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(args.markdown))
        return
    suite = _suite()
    labels = suite._digits_labels()
    scenarios = [*suite.SYNTHETIC, suite.label_stream(labels, perfect=True), suite.label_stream(labels, perfect=False)]
    if args.only:
        scenarios = [s for s in scenarios if args.only in s.name]
    se = math.sqrt(0.95 * 0.05 / args.reps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fields = ["scenario", "condition", "method", "coverage", "coverage_se", "mean_sets", "paired_fp_rate",
              "reps", "cpu_s"]
    with args.out.open("a" if args.out.exists() else "w", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        if not fh.tell():
            writer.writeheader()
        for scn in scenarios:
            methods = ["delta", "jackknife"] + (["jackknife_iid"] if scn.design is not None else [])
            for method in [m for m in methods if m in args.methods]:
                run = replace(scn, design=None) if method == "jackknife_iid" else scn
                kind = "delta" if method == "delta" else "jackknife"
                for num_sets in [int(c) for c in args.conditions if "." not in c]:
                    start = time.process_time()
                    cov = suite.fixed_coverage(run, num_sets, args.reps, seed=21 if scn.design is None else 23,
                                               method=kind)
                    fp = suite.paired_rejection(run, num_sets, args.reps, seed=25) if kind == "jackknife" else ""
                    writer.writerow({"scenario": scn.name, "condition": f"sets={num_sets}", "method": method,
                                     "coverage": f"{cov:.4f}", "coverage_se": f"{se:.4f}", "mean_sets": num_sets,
                                     "paired_fp_rate": fp if fp == "" else f"{fp:.4f}", "reps": args.reps,
                                     "cpu_s": f"{time.process_time() - start:.1f}"})
                for rtol in [float(c) for c in args.conditions if "." in c]:
                    start = time.process_time()
                    cov, mean_stop = suite.stopping_coverage(run, rtol, args.reps,
                                                             seed=22 if scn.design is None else 24, method=kind)
                    writer.writerow({"scenario": scn.name, "condition": f"stop rtol={rtol}", "method": method,
                                     "coverage": f"{cov:.4f}", "coverage_se": f"{se:.4f}",
                                     "mean_sets": f"{mean_stop:.1f}", "paired_fp_rate": "", "reps": args.reps,
                                     "cpu_s": f"{time.process_time() - start:.1f}"})
                fh.flush()
                print(f"{scn.name} {method} done", flush=True)


if __name__ == "__main__":
    main()
