"""Data-test fixtures: a private decoding cache per test, and ``data_fakes`` importable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which puts no test folder on sys.path.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DASTAT_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("DASTAT_MAX_MEMORY", raising=False)
    monkeypatch.delenv("DASTAT_DATA", raising=False)
