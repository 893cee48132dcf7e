"""Choosing the compute device (``--device auto|cpu|cuda[:N]``)."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager, nullcontext

import torch

from dastat.errors import InvalidArgumentError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (or None) is CUDA when present, else CPU; ``cuda`` without CUDA is an error."""
    if isinstance(device, torch.device):
        return device
    spec = (device or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if re.fullmatch(r"cuda(:\d+)?", spec):
        if not torch.cuda.is_available():
            raise InvalidArgumentError(
                f"device {device!r} was asked for but CUDA is not available here; use --device cpu or auto"
            )
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise InvalidArgumentError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
        return torch.device(spec)
    raise InvalidArgumentError(f"device must be 'auto', 'cpu' or 'cuda[:N]'; got {device!r}")


def autocast(device: torch.device | str, enabled: bool) -> AbstractContextManager:
    """bf16 autocast on ``device`` when ``enabled``; otherwise a context that changes nothing."""
    if not enabled:
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
