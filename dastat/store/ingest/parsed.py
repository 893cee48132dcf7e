"""What a parser hands back from one file, and the checks every parser shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dastat.errors import IngestError


@dataclass
class Parsed:
    """Records read from one file, not yet stored.

    ``students`` pairs each student record with its per-epoch curve (or None); ``notes`` are
    things the user should know (a field the file does not state, a source preferred to another).
    """

    parser: str
    probes: list[dict[str, Any]] = field(default_factory=list)
    students: list[tuple[dict[str, Any], list[dict[str, Any]] | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra_files: list[Path] = field(default_factory=list)  # read too, so part of the content hash


def fail(path: Path, line: int | None, what: str) -> IngestError:
    """An IngestError naming the file and line."""
    where = f"{path}" if line is None else f"{path}, line {line}"
    return IngestError(f"{where}: {what}")


def number(text: Any, *, path: Path, line: int | None, name: str) -> float:
    """A finite float from ``text``, or an IngestError saying which value was not one."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise fail(path, line, f"{name} should be a number; got {text!r}") from None
    if not math.isfinite(value):
        raise fail(path, line, f"{name} should be a finite number; got {text!r}")
    return value


def integer(text: Any, *, path: Path, line: int | None, name: str) -> int:
    """An int from ``text`` (``12`` or ``12.0``), or an IngestError."""
    value = number(text, path=path, line=line, name=name)
    if not value.is_integer():
        raise fail(path, line, f"{name} should be a whole number; got {text!r}")
    return int(value)
