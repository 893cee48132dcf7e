"""Shared fixtures: the ../shared fixtures folder, seeds, the gpu marker, and tests/store's helpers on the path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DASTAT_SHARED", ROOT.parent / "shared"))
# pytest runs with --import-mode=importlib: the helpers in tests/store (waiting, read_only, the reference
# writers) are importable by their plain names from every test folder.
STORE_TESTS = str(ROOT / "tests" / "store")
if STORE_TESTS not in sys.path:
    sys.path.insert(0, STORE_TESTS)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The team's shared fixtures (compat/, reference/), beside the checkout."""
    if not SHARED.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED} (set DASTAT_SHARED)")
    return SHARED


def pytest_configure(config):
    """Under pytest-xdist each worker takes its share of the cores (and its child processes inherit it).

    torch starts one intra-op thread per core in every process; with two workers on two cores their
    OpenMP threads oversubscribe the cores and wait on each other. ``OMP_NUM_THREADS`` set by the caller wins.
    """
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if count and "OMP_NUM_THREADS" not in os.environ:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = max(1, cores // count)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
