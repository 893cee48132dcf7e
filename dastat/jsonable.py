"""One conversion for everything dastat writes as JSON (records, summaries, ``--json`` output)."""

from __future__ import annotations

import math
from typing import Any


def json_ready(value: Any) -> Any:
    """``value`` with NaN/inf as None (JSON has neither), numpy/torch scalars as Python numbers, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return json_ready(value.item())
    return value


__all__ = ["json_ready"]
