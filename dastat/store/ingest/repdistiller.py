"""RepDistiller's TensorBoard event files (``tensorboard_logger``): ``test_loss``, ``test_acc``,
``test_acc_top5`` (and ``train_loss``, ``train_acc``) per epoch.

RepDistiller names a student's folder ``S:<student>_T:<teacher>_<dataset>_<distill>_r:<g>_a:<a>_b:<b>_<trial>``;
teacher, student and dataset are read from it when it has that form (``--set`` fills or overrides them).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from dastat.store.ingest.events import read_scalars
from dastat.store.ingest.parsed import Parsed, fail

NAME = "repdistiller_events"

_FOLDER = re.compile(
    r"^S:(?P<student>.+?)_T:(?P<teacher>.+?)_(?P<dataset>cifar100|cifar10|tinyimagenet|imagenet|svhn)_"
    r"(?P<distill>[^_]+)_r:(?P<gamma>[^_]+)_a:(?P<alpha>[^_]+)_b:(?P<beta>[^_]+)_(?P<trial>.+)$")


def sniff(path: Path, head: str) -> bool:
    """Event files are named ``events.out.tfevents.<time>.<host>``."""
    return path.name.startswith("events.out.tfevents")


def curve_from_scalars(scalars: dict, path: Path) -> list[dict]:
    """Per-epoch rows from ``test_loss``/``test_acc``/``test_acc_top5``/``train_loss`` scalars."""
    if "test_loss" not in scalars or "test_acc" not in scalars:
        raise fail(path, None, f"expected scalars 'test_loss' and 'test_acc'; found {sorted(scalars)}")
    rows = []
    start = min(t for _, t in scalars["test_loss"].values())
    for step in sorted(scalars["test_loss"]):
        row = {"epoch": int(step), "test_loss": scalars["test_loss"][step][0],
               "wall_s": scalars["test_loss"][step][1] - start}
        for tag, field in (("test_acc", "test_acc1"), ("test_acc_top5", "test_acc5"),
                           ("train_loss", "train_loss"), ("lr", "lr")):
            if step in scalars.get(tag, {}):
                row[field] = scalars[tag][step][0]
        for field, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise fail(path, None, f"{field} at epoch {step} is {value}; expected a finite number")
        rows.append(row)
    return rows


def student_record(curve: list[dict], run_id: str) -> dict:
    """Final (last epoch) and best (highest top-1) figures of a curve."""
    final = curve[-1]
    best = max(curve, key=lambda r: (r.get("test_acc1", -math.inf), -r["epoch"]))
    return {
        "run_id": run_id, "epochs": final["epoch"],
        "test_loss": final["test_loss"], "test_acc1": final.get("test_acc1"),
        "test_acc5": final.get("test_acc5"), "train_loss": final.get("train_loss"),
        "best_test_acc1": best.get("test_acc1"), "best_epoch": best["epoch"],
        "best_test_loss": best["test_loss"], "elapsed_s": final["wall_s"],
    }


def parse(path: Path) -> Parsed:
    """Read one event file as one student run (run id: folder name + file name)."""
    curve = curve_from_scalars(read_scalars(path), path)
    folder = path.parent.name
    record = student_record(curve, f"{folder}/{path.name}")
    match = _FOLDER.match(folder)
    parsed = Parsed(parser=NAME)
    if match:
        record.update(teacher=match["teacher"], student=match["student"], dataset=match["dataset"],
                      distill=match["distill"], trial=match["trial"])
    else:
        parsed.notes.append(f"{path}: folder name {folder!r} does not say teacher/student/dataset; "
                            "give them with --set")
    parsed.students.append((record, curve))
    return parsed
