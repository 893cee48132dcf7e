"""The probe: T. stddev of augmentation schemes for a teacher, without training students.

``ProbeOptions`` is torch-free (the CLI builds its options from it); the rest loads on first use.
"""

from __future__ import annotations

import importlib

from dastat.probe.options import ProbeOptions

_WHERE = {
    "Interval": "estimator", "PairedDifference": "estimator", "interval": "estimator",
    "paired_difference": "estimator", "STUDENT_FREE": "measure", "ProbeInterrupted": "measure",
    "Ranking": "measure", "measure_scheme": "measure", "rank": "measure", "ranking_table": "measure",
    "ProbeResult": "result",
}

__all__ = ["ProbeOptions", *sorted(_WHERE)]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"dastat.probe.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'dastat.probe' has no attribute {name!r}")
