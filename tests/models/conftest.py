"""Fixtures for the model tests: the RepDistiller compat fixture (../shared/compat/repdistiller) and the weight and
input rules its own README gives."""

from __future__ import annotations

import hashlib
import json
import math
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch


def seed_of(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little") % 2**63


def rule_tensor(name: str, shape: list[int], dtype: str, gain: float) -> torch.Tensor:
    """The fixture's value for one state_dict entry, from its name, shape and dtype alone."""
    if name.endswith("num_batches_tracked"):
        return torch.tensor(0, dtype=torch.int64)
    g = torch.Generator(device="cpu")
    g.manual_seed(seed_of(name))
    u = torch.rand(shape, generator=g, dtype=torch.float64)
    if name.endswith("running_var"):
        value = 0.5 + 0.5 * u
    elif name.endswith("running_mean"):
        value = (u - 0.5) / 8
    elif len(shape) >= 2:
        fan_in = math.prod(shape[1:])
        value = (2 * u - 1) * (gain * math.sqrt(3.0 / fan_in))
    elif name.endswith("weight"):
        value = 1 + (u - 0.5) / 4
    else:
        value = (u - 0.5) / 4
    return value.to(getattr(torch, dtype))


def rule_state_dict(entry: dict) -> dict[str, torch.Tensor]:
    return {
        s["name"]: rule_tensor(s["name"], s["shape"], s["dtype"], entry["weight_gain"])
        for s in entry["state_dict"]
    }


def rule_input() -> torch.Tensor:
    g = torch.Generator(device="cpu")
    g.manual_seed(0)
    return (torch.rand((4, 3, 32, 32), generator=g) - 0.5) * 4.0


@cache
def manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


@pytest.fixture(scope="session")
def fixture_root(shared_dir) -> Path:
    root = shared_dir / "compat" / "repdistiller"
    if not (root / "manifest.json").exists():
        pytest.skip(f"compat fixture not found at {root}")
    return root


@pytest.fixture(scope="session")
def compat(fixture_root) -> SimpleNamespace:
    """The fixture's manifest and rules: ``.manifest``, ``.state_dict(arch)``, ``.x64``, ``.root``."""
    data = manifest(fixture_root)
    return SimpleNamespace(
        root=fixture_root,
        manifest=data,
        entry=lambda arch: data["architectures"][arch],
        state_dict=lambda arch: rule_state_dict(data["architectures"][arch]),
        x64=rule_input().double(),
    )
