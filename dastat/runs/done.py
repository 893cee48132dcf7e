"""The "already done?" check, the one rule for skipping work that a run directory or the store already holds.

A training job is done when its run directory holds a final record, or the store holds a student run with
the same teacher (by checksum; "embedded" by name), student, method, dataset, scheme, seed and epochs. A
probe job is done when the store holds a probe with the same teacher, dataset, scheme, seed and protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dastat.runs.jobs import Job


def is_done(job: Job, store: Any = None) -> bool:
    """Whether ``job``'s result already exists (its run directory's final record, or ``store``, an open Store)."""
    return not split_done([job], store)[0]


def split_done(jobs: Iterable[Job], store: Any = None) -> tuple[list[Job], list[Job]]:
    """``(todo, done)``: the jobs in their order, parted by :func:`is_done`; the store's tables are read once and
    each teacher file is hashed once."""
    from dastat.train.result import read_records

    tables: dict[str, Any] = {}
    checksums: dict[str, str] = {}
    todo, done = [], []
    for job in jobs:
        finished = job.kind == "train" and job.out_dir is not None and read_records(Path(job.out_dir))[1] is not None
        if not finished and store is not None:
            if job.kind not in tables:
                tables[job.kind] = store.students() if job.kind == "train" else store.probes()
            finished = _in_table(job, tables[job.kind], checksums)
        (done if finished else todo).append(job)
    return todo, done


def _in_table(job: Job, table, checksums: dict[str, str]) -> bool:
    if table.empty:
        return False
    rows = table[(table["dataset"] == job.dataset) & (table["scheme"] == job.scheme) & (table["seed"] == job.seed)]
    if job.kind == "train":
        from dastat.train.schedule import BASE_EPOCHS

        epochs = job.epochs or round(BASE_EPOCHS * job.epoch_factor)
        rows = rows[(rows["student"] == job.student) & (rows["epochs"] == epochs)
                    & (rows["method"].fillna("kd") == job.method)]
    else:
        rows = rows[rows["protocol"] == job.options.get("protocol", "fast")]
    if job.teacher == "embedded" or not len(rows):
        return bool(len(rows))
    checksum = job.teacher_checksum
    if checksum is None:
        if job.teacher not in checksums:
            from dastat.models.checkpoint_file import sha256_of

            checksums[job.teacher] = sha256_of(job.teacher)
        checksum = checksums[job.teacher]
    return bool((rows["teacher_checksum"] == checksum).any())
