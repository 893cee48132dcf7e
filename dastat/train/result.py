"""What a training run returns and writes: per-epoch curve rows and one final record."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from torch import nn

from dastat.jsonable import json_ready

RECORDS_NAME = "records.jsonl"
# The per-epoch metrics (the store's curve rows).
CURVE_KEYS = ("epoch", "test_loss", "test_acc1", "test_acc5", "train_loss", "lr", "wall_s")


@dataclass
class TrainResult:
    """A finished run.

    Attributes
    ----------
    record : dict
        The final record (the store's student-run record): last epoch's ``test_loss``, ``test_acc1``,
        ``test_acc5`` and ``train_loss``; ``best_test_acc1`` / ``best_epoch`` (the epoch of highest
        top-1, as the reference logs' ``Best_Acc1``) and ``best_test_loss`` (the lowest test loss of
        any epoch); the configuration under ``config``. Accuracies are percent.
    curve : list of dict
        One row per epoch with the keys of ``CURVE_KEYS`` (the test metrics None before ``test_from``).
    model : nn.Module
        The trained model (a ``dastat.models.Classifier``), in eval mode.
    out_dir : Path or None
        The run directory (checkpoint, records, final model) when one was given.
    run_id : str or None
        The run's id (a distillation run's; the store keys its row by it).
    method : nn.Module or None
        The distillation method's trained modules (``distill(method=...)``; CRD's embeddings and
        memory, ...), None for plain KD.
    """

    record: dict[str, Any]
    curve: list[dict[str, Any]]
    model: nn.Module
    out_dir: Path | None = None
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    method: nn.Module | None = None

    @property
    def test_loss(self) -> float:
        return self.record["test_loss"]

    @property
    def test_acc1(self) -> float:
        return self.record["test_acc1"]

    def to_dict(self) -> dict[str, Any]:
        """The final record plus ``run_id`` and ``out_dir``, JSON-ready."""
        return {**self.record, "run_id": self.run_id, "out_dir": None if self.out_dir is None else str(self.out_dir)}


def best_of(curve: list[dict[str, Any]]) -> dict[str, Any]:
    """``best_test_acc1`` and ``best_epoch`` (first epoch of highest top-1), ``best_test_loss`` (lowest).

    Only the epochs whose test set was scored count (``test_from``); with none of them, ``{}``.
    """
    tested = [row for row in curve if row["test_acc1"] is not None]
    if not tested:
        return {}
    best = max(tested, key=lambda row: (row["test_acc1"], -row["epoch"]))
    return {
        "best_test_acc1": best["test_acc1"],
        "best_epoch": best["epoch"],
        "best_test_loss": min(row["test_loss"] for row in tested),
    }


def final_metrics(summary: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The fields every final record ends with: last-epoch metrics, the best epoch's, time and config."""
    last = summary["last"]
    return {
        "test_loss": last["test_loss"],
        "test_acc1": last["test_acc1"],
        "test_acc5": last["test_acc5"],
        **summary["best"],
        "train_loss": last["train_loss"],
        "elapsed_s": summary["elapsed_s"],
        "dastat_version": config["dastat_version"],
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
    }


def write_records(out_dir: Path, curve: list[dict[str, Any]], final: dict[str, Any] | None = None) -> Path:
    """(Re)write ``records.jsonl``: one ``{"kind": "epoch", ...}`` line per epoch, then the final record.

    The whole file is rewritten atomically each time, so after a kill it matches the last checkpoint
    or a later epoch, never half a line.
    """
    path = Path(out_dir) / RECORDS_NAME
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    with open(tmp, "w") as f:
        for row in curve:
            f.write(json.dumps(json_ready({"kind": "epoch", **row})) + "\n")
        if final is not None:
            f.write(json.dumps(json_ready({"kind": "final", **final}), default=str) + "\n")
    os.replace(tmp, path)
    return path


def read_records(out_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The curve and final record of a run directory (final is None for an unfinished run)."""
    path = Path(out_dir) / RECORDS_NAME
    curve, final = [], None
    if not path.exists():
        return curve, final
    for line in path.read_text().splitlines():
        row = json.loads(line)
        kind = row.pop("kind", "epoch")
        if kind == "final":
            final = row
        else:
            curve.append(row)
    return curve, final
