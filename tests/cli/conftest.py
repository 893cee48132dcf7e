"""tests/cli: reach tests/store's read_only helper, as tests/store does (pytest runs with --import-mode=importlib)."""

from __future__ import annotations

import sys
from pathlib import Path

STORE_TESTS = str(Path(__file__).resolve().parent.parent / "store")
if STORE_TESTS not in sys.path:
    sys.path.insert(0, STORE_TESTS)
