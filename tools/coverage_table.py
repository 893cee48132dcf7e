"""Write the coverage table of the probe's interval (protocol fast: a jackknife over independent batch units).

Usage: ``nice python tools/coverage_table.py [--reps 2000] [--out results/coverage/coverage.csv] [--only NAME]
[--conditions 24 30 88 0.05 0.02]``; ``--markdown CSV...`` prints finished tables as Markdown.

Every cell runs ``dastat.probe.coverage`` (the scenarios, seeds and stopping rule of the slow tests in
``tests/probe/test_coverage.py``). Rows: scenario, condition (``sets=N``: N sets = 5N batch units, or ``stop rtol=R``),
coverage, its Monte Carlo standard error, the mean number of sets at the stop, and the paired difference's
false-positive rate (fixed set counts). The CPU seconds of each row are kept so the cost of the table is on
record.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

from dastat.probe import coverage

ROOT = Path(__file__).resolve().parents[1]


def markdown(paths: list[Path]) -> str:
    """The CSV rows as a Markdown table: one row per scenario, one column per condition."""
    cells: dict[tuple[str, str], str] = {}
    conditions: list[str] = []
    for path in paths:
        with path.open() as fh:
            for row in csv.DictReader(fh):
                cells[(row["scenario"], row["condition"])] = row["coverage"]
                if row["condition"] not in conditions:
                    conditions.append(row["condition"])
    scenarios = list(dict.fromkeys(name for name, _ in cells))
    lines = ["| scenario | " + " | ".join(conditions) + " |", "|---" * (len(conditions) + 1) + "|"]
    for name in scenarios:
        shown = [f"{float(cells[(name, c)]):.3f}" if (name, c) in cells else "—" for c in conditions]
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def _is_stream(scn) -> bool:
    return scn.name.startswith("digits stream")  # its own seeds, as in the slow tests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "results/coverage/coverage.csv")
    parser.add_argument("--only", default=None, help="run only the scenarios whose name contains this")
    parser.add_argument("--conditions", nargs="+", default=["24", "30", "88", "0.05", "0.02"],
                        help="fixed set counts and stopping-rule rtols to run (default: all)")
    parser.add_argument("--markdown", nargs="+", type=Path, default=None,
                        help="print the given CSV files as a Markdown table instead of running")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(args.markdown))
        return
    labels = coverage.digits_labels()
    scenarios = [*coverage.SYNTHETIC, coverage.label_stream(labels, perfect=True),
                 coverage.label_stream(labels, perfect=False)]
    if args.only:
        scenarios = [s for s in scenarios if args.only in s.name]
    se = math.sqrt(0.95 * 0.05 / args.reps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fields = ["scenario", "condition", "coverage", "coverage_se", "mean_sets", "paired_fp_rate", "reps", "cpu_s"]
    with args.out.open("a" if args.out.exists() else "w", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        if not fh.tell():
            writer.writeheader()
        for scn in scenarios:
            for num_sets in [int(c) for c in args.conditions if "." not in c]:
                start = time.process_time()
                cov = coverage.fixed_coverage(scn, num_sets, args.reps, seed=23 if _is_stream(scn) else 21)
                fp = coverage.paired_rejection(scn, num_sets, args.reps, seed=25)
                writer.writerow({"scenario": scn.name, "condition": f"sets={num_sets}", "coverage": f"{cov:.4f}",
                                 "coverage_se": f"{se:.4f}", "mean_sets": num_sets, "paired_fp_rate": f"{fp:.4f}",
                                 "reps": args.reps, "cpu_s": f"{time.process_time() - start:.1f}"})
                fh.flush()
            for rtol in [float(c) for c in args.conditions if "." in c]:
                start = time.process_time()
                cov, mean_stop = coverage.stopping_coverage(scn, rtol, args.reps, seed=24 if _is_stream(scn) else 22)
                writer.writerow({"scenario": scn.name, "condition": f"stop rtol={rtol}", "coverage": f"{cov:.4f}",
                                 "coverage_se": f"{se:.4f}", "mean_sets": f"{mean_stop:.1f}", "paired_fp_rate": "",
                                 "reps": args.reps, "cpu_s": f"{time.process_time() - start:.1f}"})
                fh.flush()
            print(f"{scn.name} done", flush=True)


if __name__ == "__main__":
    main()
