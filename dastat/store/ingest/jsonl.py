"""dastat's own JSON-lines records (the trainer's ``records.jsonl``, the probe's records).

Each line is one JSON object with ``"kind"``: ``"epoch"`` (a curve row), ``"student"`` or
``"final"`` (a student record; the trainer writes ``final``) or ``"probe"`` (a ProbeResult dict), in
the record formats of :mod:`dastat.store`. Epoch rows join the student record with the same
``run_id``; without run ids, the epoch rows since the previous student record belong to the next one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from dastat.store.ingest.parsed import Parsed, fail

NAME = "dastat_jsonl"
# The trainer (dastat/train/result.py) writes its student record as "final".
_KINDS = ("epoch", "student", "final", "probe")


def sniff(path: Path, head: str) -> bool:
    """A ``.jsonl`` file, or one whose first line is a JSON object with a ``kind``."""
    first = head.lstrip().split("\n", 1)[0]
    if path.suffix == ".jsonl":
        return True
    try:
        return isinstance(obj := json.loads(first), dict) and obj.get("kind") in _KINDS
    except ValueError:
        return False


def parse(path: Path) -> Parsed:
    """Read every record; a line that is not a JSON object with a known kind is an IngestError."""
    parsed = Parsed(parser=NAME)
    pending: list[dict] = []
    curves: dict[str, list[dict]] = {}
    students: list[dict] = []
    text = path.read_text(encoding="utf-8")
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as err:
            hint = " (the file is truncated)" if n == len(text.splitlines()) and not text.endswith("\n") else ""
            raise fail(path, n, f"expected one JSON object per line{hint}: {err}") from None
        if not isinstance(obj, dict) or obj.get("kind") not in _KINDS:
            raise fail(path, n, f"expected an object with \"kind\" one of {_KINDS}; got {line[:80]!r}")
        kind = obj.pop("kind")
        for key in ("test_loss", "t_stddev"):
            if isinstance(obj.get(key), float) and not math.isfinite(obj[key]):
                raise fail(path, n, f"{key} is {obj[key]}; expected a finite number")
        if kind == "epoch":
            if "epoch" not in obj:
                raise fail(path, n, "an epoch record without 'epoch'")
            if obj.get("run_id"):
                curves.setdefault(str(obj["run_id"]), []).append(obj)
            else:
                pending.append(obj)
        elif kind in ("student", "final"):
            if not obj.get("run_id"):
                obj["run_id"] = f"{path.parent.name}/{path.name}:{n}"
            curves.setdefault(str(obj["run_id"]), []).extend(pending)
            pending = []
            students.append(obj)
        else:
            obj.setdefault("run_id", f"{path.parent.name}/{path.name}:{n}")
            parsed.probes.append(obj)
    for record in students:
        curve = [{k: v for k, v in row.items() if k != "run_id"} for row in curves.get(str(record["run_id"]), [])]
        parsed.students.append((record, sorted(curve, key=lambda r: r["epoch"]) or None))
    if pending:
        parsed.notes.append(f"{path}: {len(pending)} epoch records with no student record after them were "
                            "not stored (the run had not finished)")
    return parsed
