"""The paper's reference code: ``Experiments/<project>_SERVER<nnn>-<date>-<time>/log/log.txt``
(docs/method.md, "Log formats").

The file is written by smilelogging: unprefixed header lines, one unprefixed line with every
argument as ``('key': value) ...``, then lines prefixed ``[<HHMMSS> <pid> <date-time>] ``. The
per-epoch metric line of the student is indented (``accprint``); probe runs (learning rate 0,
frozen student, ``utils.check_ce_var``) also print ``Check T prob`` lines, and their student
lines are not a student result.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from dastat.store.ingest.parsed import Parsed, fail, integer, number

NAME = "reference_log"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # newer smilelogging colours its prefixes
_PREFIX = re.compile(
    r"^\[(?P<expid>\w{6}) (?P<pid>\d+) (?P<time>\d{4}/\d{2}/\d{2}-\d{2}:\d{2}:\d{2})\] ?(?:\[[^\]]*\] )?")
_ARG = re.compile(r"\('(?P<key>[^']+)': (?P<value>.*?)\)(?= \('|\s*$)")
_METRIC = re.compile(
    r"^Acc1 (?P<acc1>\S+) Acc5 (?P<acc5>\S+) TestLoss (?P<loss>\S+) Epoch (?P<epoch>\S+) \(after update\) "
    r"lr (?P<lr>\S+) \(Best_Acc1 (?P<best>\S+) @ Epoch (?P<best_epoch>\S+)\)$")
_CHECK = re.compile(
    r"^Check T prob: NumOfSampledStd (?P<n>\S+) Epoch (?P<epoch>\S+)(?: Step (?P<step>\S+) TotalStep \S+)?"
    r"\s+MeanStd (?P<std>\S+) MeanEntropy (?P<entropy>\S+)$")
_VANILLA = re.compile(r"(?:^|/)(?P<arch>[^/]+)_vanilla(?:/|$)")


def sniff(path: Path, head: str) -> bool:
    """True when ``head`` (the file's first bytes) looks like a smilelogging log of the reference code."""
    return any(_ANSI.sub("", line).startswith("('") and _ARG.search(line) for line in head.splitlines()[:50])


def _value(text: str) -> Any:
    text = text.strip()
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    namespace = re.fullmatch(r"Namespace\((.*)\)", text)
    if namespace:  # --utils.ON etc. arrive as one Namespace(...) argument
        return {k: _value(v) for k, v in re.findall(r"(\w+)=([^,]*(?:\[[^\]]*\])?)(?:, |$)", namespace.group(1))}
    return text


def parse_args_line(line: str) -> dict[str, Any]:
    """``('key': value) ('key': value) ...`` to a dict with Python values."""
    return {m.group("key"): _value(m.group("value")) for m in _ARG.finditer(line)}


def _experiment_id(path: Path) -> str:
    folder = path.parent.parent if path.parent.name == "log" else path.parent
    return folder.name


def is_probe_run(args: dict[str, Any], run_id: str) -> bool:
    """Probe runs are ordinary runs with lr 0, a frozen student and check_ce_var on (docs/method.md, "Log formats")."""
    utils = args.get("utils") if isinstance(args.get("utils"), dict) else {}
    return (args.get("learning_rate") == 0 or args.get("fix_student") is True
            or bool(utils.get("check_ce_var")) or bool(args.get("utils.check_ce_var"))
            or "CheckTProbStd" in run_id)


def parse(path: Path) -> Parsed:
    """Read one reference-code ``log.txt``; see the module docstring for the format.

    Raises
    ------
    IngestError
        No arguments line, a metric line with a garbled or non-finite number, or a truncated run
        (fewer epochs than its ``epochs`` argument, or a probe run without a ``Check T prob`` line).
    """
    args: dict[str, Any] | None = None
    epochs: dict[int, dict[str, Any]] = {}
    last_check: dict[str, Any] | None = None
    first_time: datetime | None = None
    with path.open(encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    lines = text.splitlines()
    for number_, raw in enumerate(lines, start=1):
        line = _ANSI.sub("", raw)
        prefix = _PREFIX.match(line)
        if prefix is None:
            if args is None and line.startswith("('"):
                args = parse_args_line(line)
            body = line
        else:
            body = line[prefix.end():]
            stamp = datetime.strptime(prefix.group("time"), "%Y/%m/%d-%H:%M:%S")
            first_time = first_time or stamp
        body = body.strip()
        if body.startswith("Acc1 ") and "TestLoss" in body:
            m = _METRIC.match(body)
            if m is None:
                raise fail(path, number_, "expected a metric line 'Acc1 <x> Acc5 <x> TestLoss <x> Epoch <n> "
                           f"(after update) lr <x> (Best_Acc1 <x> @ Epoch <n>)'; got {body!r}")
            kw = {"path": path, "line": number_}
            epoch = integer(m["epoch"], name="Epoch", **kw)
            epochs[epoch] = {  # a resumed run prints an epoch again: the later line wins
                "epoch": epoch,
                "test_acc1": number(m["acc1"], name="Acc1", **kw),
                "test_acc5": number(m["acc5"], name="Acc5", **kw),
                "test_loss": number(m["loss"], name="TestLoss", **kw),
                "lr": number(m["lr"], name="lr", **kw),
                "best_test_acc1": number(m["best"], name="Best_Acc1", **kw),
                "best_epoch": integer(m["best_epoch"], name="Best_Acc1 epoch", **kw),
                "wall_s": (stamp - first_time).total_seconds() if prefix is not None else None,
                "line": number_,
            }
        elif body.startswith("Check T prob:"):
            m = _CHECK.match(body)
            if m is None:
                raise fail(path, number_, "expected 'Check T prob: NumOfSampledStd <n> Epoch <n> ... MeanStd <x> "
                           f"MeanEntropy <x>'; got {body!r}")
            kw = {"path": path, "line": number_}
            last_check = {
                "n_sets": integer(m["n"], name="NumOfSampledStd", **kw),
                "epoch": integer(m["epoch"], name="Epoch", **kw),
                "t_stddev": number(m["std"], name="MeanStd", **kw),
                "mean_entropy": number(m["entropy"], name="MeanEntropy", **kw),
            }
    if args is None:
        raise fail(path, None, "no arguments line ('key': value) ('key': value) ... was found; the log is "
                   "truncated or not written by the reference code's smilelogging")
    run_id = _experiment_id(path)
    want = args.get("epochs")
    parsed = Parsed(parser=NAME)
    last = max(epochs) if epochs else 0
    if isinstance(want, int) and last < want:
        raise fail(path, len(lines), f"the log is truncated: the last metric line is for epoch {last} but the "
                   f"run's epochs argument is {want}; ingest it when the run has finished")
    teacher_path = str(args.get("path_t") or "")
    vanilla = _VANILLA.search(teacher_path)
    teacher = vanilla.group("arch") if vanilla else args.get("model_t")
    criterion = args.get("cutmix_pick_criterion")
    common = {
        "run_id": run_id,
        "teacher": teacher,
        "dataset": args.get("dataset"),
        "scheme": args.get("mix_mode") if args.get("mix_mode") is not None else "none",
        "scheme_params": {"mix_mode": args.get("mix_mode"), "cutmix_pick_criterion": criterion,
                          "mix_n_run": args.get("mix_n_run")},
        "scheme_criterion": criterion,
    }
    if is_probe_run(args, run_id):
        if last_check is None:
            raise fail(path, len(lines), "a probe run (learning_rate 0 / fix_student / check_ce_var) with no "
                       "'Check T prob' line: the log is truncated or the probe never ran")
        parsed.probes.append({
            **common,
            "protocol": "paper", "randomness": "batch", "set_size": 640,
            "t_stddev": last_check["t_stddev"], "n_sets": last_check["n_sets"], "rows_per_set": 640,
            # cumulative over the run (docs/method.md, "Deviations from the reference code")
            "reference_mean_entropy": last_check["mean_entropy"],
            "reference_epoch": last_check["epoch"], "config": args,
        })
        parsed.notes.append(f"{run_id}: probe run; its frozen student's metric lines are not a student result")
        return parsed
    if not epochs:
        raise fail(path, len(lines), "no per-epoch metric line (Acc1 ... TestLoss ...) was found")
    final = epochs[last]
    best = epochs.get(final["best_epoch"], {})
    curve = [{k: v for k, v in row.items() if k not in ("best_test_acc1", "best_epoch", "line")}
             for _, row in sorted(epochs.items())]
    factor = args.get("epoch_factor")
    parsed.students.append(({
        **common,
        "student": args.get("model_s"),
        "distill": args.get("distill"),
        "randomness": "batch",  # the reference code draws its scheme's parameters once per batch
        "seed": None,
        "epochs": last,
        "epoch_factor": factor if factor else 1.0,  # 0 is the reference code's "unset"
        "test_loss": final["test_loss"], "test_acc1": final["test_acc1"], "test_acc5": final["test_acc5"],
        "best_test_acc1": final["best_test_acc1"], "best_epoch": final["best_epoch"],
        "best_test_loss": best.get("test_loss"),
        "elapsed_s": final["wall_s"],
        "trial": args.get("trial"),
        "config": args,
    }, curve))
    return parsed
