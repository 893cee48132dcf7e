"""Argument checks for the public boundary; each returns the cleaned value."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dastat.errors import ClassCountError, InvalidArgumentError

if TYPE_CHECKING:  # torch is imported where tensors are checked: the statistics and plots need none of it
    from torch import Tensor


def check_images(x: object, name: str = "images") -> Tensor:
    """A uint8 tensor [B,3,H,W], or InvalidArgumentError naming ``name``."""
    import torch

    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3:
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise InvalidArgumentError(
            f"{name} must be a uint8 tensor [B,3,H,W]; got {got}. dastat.data.load() returns this layout."
        )
    return x


def check_int(x: object, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """An int within [low, high]."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise InvalidArgumentError(f"{name} must be an integer; got {x!r}")
    if (low is not None and x < low) or (high is not None and x > high):
        bounds = f">= {low}" if high is None else (f"<= {high}" if low is None else f"in [{low}, {high}]")
        raise InvalidArgumentError(f"{name} must be {bounds}; got {x!r}")
    return int(x)


def check_float(
    x: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number within the given bounds (open or closed)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        raise InvalidArgumentError(f"{name} must be a finite number; got {x!r}")
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and (x >= high if high_open else x > high)
    if too_low or too_high:
        lo = "" if low is None else f"{'(' if low_open else '['}{low}"
        hi = "" if high is None else f"{high}{')' if high_open else ']'}"
        raise InvalidArgumentError(f"{name} must be in {lo or '(-inf'}, {hi or 'inf)'}; got {x!r}")
    return float(x)


def check_fraction(x: object, name: str) -> float:
    """A number in the open interval (0, 1)."""
    return check_float(x, name, low=0, high=1, low_open=True, high_open=True)


def check_choice(x: object, name: str, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    if x not in choices:
        raise InvalidArgumentError(f"{name} must be one of {', '.join(map(repr, choices))}; got {x!r}")
    return str(x)


def check_class_count(found: int | None, expected: int, *, model: str, against: str, fix: str) -> None:
    """The one class-count check: ``model`` predicts ``found`` classes, ``against`` has ``expected``.

    ``found`` None (a model that does not say) passes. Raises :class:`~dastat.errors.ClassCountError`.
    """
    if found is not None and int(found) != int(expected):
        raise ClassCountError(
            f"class-count mismatch: {model} has {found} classes but {against} has {expected}; {fix}"
        )


#: One stage of a scheme's name, ``name`` or ``name(key=value,...)``; stages join with ``+`` (docs/method.md,
#: "Schemes"). The schemes' parser reads names with it and the store recognises them with it.
SCHEME_STAGE = re.compile(r"(?P<scheme>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\((?P<params>[^()]*)\))?")


def split_outside_parentheses(text: str, sign: str = ",") -> list[str]:
    """``text`` split at each ``sign`` outside parentheses: ``"a,b(x=1,y=2)"`` -> ``["a", "b(x=1,y=2)"]``.

    Parts are returned as written (unstripped, empty ones kept), for the caller to clean or refuse.
    """
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == sign and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]
