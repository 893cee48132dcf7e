"""What the machine was doing while a benchmark ran."""

from __future__ import annotations

import os


def load_average() -> float | None:
    """The 1-minute load average, where the system has one (benchmarks record it before and after)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None
