"""Study-test fixtures: a private decoding cache, and the data colleague's on-disk fakes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DASTAT_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("DASTAT_DATA", raising=False)
    monkeypatch.delenv("DASTAT_STORE", raising=False)


@pytest.fixture(scope="session")
def fakes():
    """``tests/data/data_fakes.py``: CIFAR-100 pickles and tiny-imagenet-200 trees in the real layouts."""
    path = Path(__file__).parents[1] / "data" / "data_fakes.py"
    spec = importlib.util.spec_from_file_location("study_data_fakes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
