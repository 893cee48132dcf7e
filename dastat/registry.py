"""A name -> builder registry with wildcard listing, shared by models, datasets and schemes."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from dastat.errors import UnknownNameError

T = TypeVar("T")


def _natural_key(name: str) -> list:
    # resnet8 < resnet14 < resnet110
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class Registry(Generic[T]):
    """Builders filed by name; ``kind`` names what they build in error messages."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator filing a builder (function or class) under ``name``."""

        def add(entry: T) -> T:
            if name in self._entries:  # two modules claiming one name is a bug, not an override
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, self._entries)
        return self._entries[name]

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(fnmatch.filter(self._entries, pattern), key=_natural_key)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
