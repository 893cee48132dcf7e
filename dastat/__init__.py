"""dastat: which data augmentation to use when distilling a teacher, decided without training students.

Subpackages load on first use: ``dastat.probe.measure_scheme(...)`` works after ``import dastat``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

from dastat.errors import DastatError

try:
    __version__ = version("dastat")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_SUBPACKAGES = ("augment", "data", "models", "plot", "probe", "runs", "stats", "store", "study", "train")

__all__ = ["DastatError", "__version__", *_SUBPACKAGES]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"dastat.{name}")
    raise AttributeError(f"module 'dastat' has no attribute {name!r}")
