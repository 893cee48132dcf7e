"""Recording results to the store: the runs layer and the CLI record; ``probe`` and ``train`` only return."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


def open_store(store: Any):
    """An open Store for ``store`` (a Store as given, a path opened and checked); None stays None.

    Open it before the work starts, so that a bad store fails before the compute, not after it.
    """
    if store is None or hasattr(store, "add_probe"):
        return store
    from dastat import store as store_mod

    return store_mod.open(Path(store))


def record_probes(store: Any, results: Iterable) -> int:
    """Add each ``ProbeResult`` to ``store`` (a Store or path; None: nothing); returns how many were added."""
    db = open_store(store)
    if db is None:
        return 0
    count = 0
    for result in results:
        db.add_probe(result.to_dict())
        count += 1
    return count


def record_runs(store: Any, results: Iterable) -> int:
    """Add each finished ``TrainResult`` (its final record and curve) to ``store``; failed cohort members (an
    ``extra["error"]``) are not recorded. Returns how many were added."""
    db = open_store(store)
    if db is None:
        return 0
    count = 0
    for result in results:
        if result.extra.get("error") is None:
            db.add_student_run(result.record, result.curve)
            count += 1
    return count
