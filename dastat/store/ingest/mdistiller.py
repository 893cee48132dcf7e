"""mdistiller's ``worklog.txt``: blocks of ``key: value`` lines between lines of 25 dashes
(docs/method.md, "Log formats").

Its values have two decimals; when the run folder also holds ``train.events`` (TensorBoard, written
with tensorboardX), the curve is taken from there at full precision and checked against the worklog.
The run folder is named ``<method>,<teacher>,<student>`` (mdistiller's experiment tag) inside a
folder whose name starts with the dataset (``cifar100_baselines``).
"""

from __future__ import annotations

import re
from pathlib import Path

from dastat.store.ingest.events import read_scalars
from dastat.store.ingest.parsed import Parsed, fail, integer, number
from dastat.store.ingest.repdistiller import curve_from_scalars, student_record

NAME = "mdistiller_worklog"

_DASHES = "-" * 25
_FIELDS = {"test_loss": "test_loss", "test_acc": "test_acc1", "test_acc_top5": "test_acc5",
           "train_loss": "train_loss", "lr": "lr"}


def sniff(path: Path, head: str) -> bool:
    """``worklog.txt``, or a file that opens with the dash line and ``epoch:``."""
    return path.name == "worklog.txt" or head.startswith(_DASHES + "\n" + "epoch: ")


def _blocks(path: Path) -> list[dict]:
    rows, block, opened_at = [], None, None
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for n, line in enumerate(lines, start=1):
        line = line.strip()
        if line == _DASHES:
            if block is None:
                block, opened_at = {"line": n}, n
            else:
                if "epoch" not in block:
                    raise fail(path, n, "a block without an 'epoch: <n>' line")
                rows.append(block)
                block = None
        elif block is not None:
            key, sep, value = line.partition(":")
            if not sep:
                raise fail(path, n, f"expected 'key: value' inside a block; got {line!r}")
            key = key.strip()
            if key == "epoch":
                block["epoch"] = integer(value.strip(), path=path, line=n, name="epoch")
            else:
                block[key] = number(value.strip(), path=path, line=n, name=key)
        elif line and not line.startswith("best_acc"):
            raise fail(path, n, f"expected a line of 25 dashes opening a block; got {line!r}")
    if block is not None:
        raise fail(path, opened_at, "the last block is not closed by a line of 25 dashes: the worklog is truncated")
    if not rows:
        raise fail(path, None, "no epoch block was found")
    return rows


def parse(path: Path) -> Parsed:
    """Read one mdistiller run (worklog plus, when present, its ``train.events``)."""
    blocks = _blocks(path)
    parsed = Parsed(parser=NAME)
    for block in blocks:
        if "test_loss" not in block:
            raise fail(path, block["line"], "an epoch block without 'test_loss'")
    events = path.parent / "train.events"
    if events.exists():
        files = sorted(events.rglob("events.out.tfevents*")) if events.is_dir() else [events]
        parsed.extra_files.extend(files)
        curve = curve_from_scalars(read_scalars(events), events)
        by_epoch = {b["epoch"]: b for b in blocks}
        for row in curve:  # the two sources must tell the same story, to the worklog's 2 decimals
            block = by_epoch.get(row["epoch"])
            if block is None or abs(block["test_loss"] - row["test_loss"]) > 0.0051:
                raise fail(events, None, f"epoch {row['epoch']}: test_loss {row['test_loss']} does not match "
                           f"the worklog's {None if block is None else block['test_loss']}")
        parsed.notes.append(f"{path}: curve read from {events.name} (full precision)")
    else:
        curve = [{"epoch": b["epoch"], **{_FIELDS[k]: v for k, v in b.items() if k in _FIELDS}} for b in blocks]
        for row in curve:
            row.setdefault("wall_s", None)
        parsed.notes.append(f"{path}: no train.events beside it; values have 2 decimals")
    record = student_record(curve, f"{path.parent.parent.name}/{path.parent.name}")
    tag = path.parent.name.split(",")
    if len(tag) >= 3:
        record.update(distill=tag[0], teacher=tag[1], student=tag[2])
    dataset = re.match(r"(cifar100|cifar10|tinyimagenet|imagenet)", path.parent.parent.name)
    if dataset:
        record["dataset"] = dataset.group(1)
    parsed.students.append((record, curve))
    return parsed
