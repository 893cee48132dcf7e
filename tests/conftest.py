"""Shared fixtures: the ../shared fixtures folder, seeds, and the gpu marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DASTAT_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The team's shared fixtures (compat/, reference/), beside the checkout."""
    if not SHARED.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED} (set DASTAT_SHARED)")
    return SHARED


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
