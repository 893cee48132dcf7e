"""The device helpers: one rule for bf16 autocast, written once."""

import re
from contextlib import nullcontext
from pathlib import Path

import torch

import dastat
from dastat.device import autocast


def test_autocast_is_bf16_on_the_device_when_enabled_and_nothing_otherwise():
    assert isinstance(autocast("cpu", False), nullcontext)
    with autocast(torch.device("cpu"), True):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


def test_bf16_autocast_is_written_in_one_place():
    root = Path(dastat.__file__).parent
    homes = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if re.search(r"torch\.autocast\(.*bfloat16", p.read_text(encoding="utf-8")))
    assert homes == ["device.py"], homes
