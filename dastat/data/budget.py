"""The memory budget that decides between an in-memory and a streaming dataset."""

from __future__ import annotations

import os
import re

from dastat.errors import InvalidArgumentError

DEFAULT_MAX_MEMORY = 4 * 2**30  # 4 GiB of decoded uint8 pixels

_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_bytes(value: int | str, name: str = "max_memory") -> int:
    """A byte count from an int or a string such as ``"512M"``, ``"4GiB"`` or ``"1e9"``.

    Parameters
    ----------
    value : int or str
        Bytes, or a number with a binary suffix K, M, G or T (``"KiB"``/``"KB"`` spellings accepted).
    name : str
        The argument's name, for the error message.

    Returns
    -------
    int
        The number of bytes (>= 1).
    """
    if isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be a byte count such as 4294967296 or '4G'; got {value!r}")
    if isinstance(value, int):
        n = value
    else:
        match = re.fullmatch(r"\s*([0-9.eE+]+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(value))
        if match is None:
            raise InvalidArgumentError(f"{name} must be a byte count such as 4294967296 or '4G'; got {value!r}")
        try:
            n = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
        except ValueError:
            raise InvalidArgumentError(
                f"{name} must be a byte count such as 4294967296 or '4G'; got {value!r}"
            ) from None
    if n < 1:
        raise InvalidArgumentError(f"{name} must be at least 1 byte; got {value!r}")
    return n


def resolve_max_memory(max_memory: int | str | None) -> int:
    """``max_memory`` if given, else ``$DASTAT_MAX_MEMORY``, else 4 GiB."""
    if max_memory is not None:
        return parse_bytes(max_memory, "max_memory")
    env = os.environ.get("DASTAT_MAX_MEMORY")
    if env:
        return parse_bytes(env, "DASTAT_MAX_MEMORY")
    return DEFAULT_MAX_MEMORY
