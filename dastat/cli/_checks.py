"""argparse ``type=`` checks: every number, path and name is checked where it is parsed, before any work.

Each check is a small callable object (so the bad-input tests can find every option's kind from the
parser) that returns the cleaned value or raises ``argparse.ArgumentTypeError`` with the rule broken,
which argparse prints as ``dastat CMD: error: argument --opt: ...`` with exit status 2.
"""

from __future__ import annotations

import abc
import argparse
import difflib
import importlib
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dastat.constants import MAX_SEED

# Upper bounds of arguments whose memory or work grows with them; each message states it.
MAX_IMAGE_SIZE = 1024
FIGURE_SUFFIXES = ("png", "svg", "pdf")  # dastat.plot.save_figure's formats (a test keeps them equal)


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text)} characters)"


class Number:
    """A finite int or float in a range; ``open_low``/``open_high`` exclude the bound itself."""

    def __init__(self, low: float | None = None, high: float | None = None, *, integer: bool = False,
                 open_low: bool = False, open_high: bool = False, why: str = ""):
        self.low, self.high, self.integer = low, high, integer
        self.open_low, self.open_high, self.why = open_low, open_high, why

    @property
    def rule(self) -> str:
        kind = "an integer" if self.integer else "a number"
        show = (lambda v: str(int(v))) if self.integer else (lambda v: f"{v:g}")
        lo = "-inf" if self.low is None else show(self.low)
        hi = "inf" if self.high is None else show(self.high)
        left = "(" if self.open_low or self.low is None else "["
        right = ")" if self.open_high or self.high is None else "]"
        return f"{kind} in {left}{lo}, {hi}{right}{self.why}"

    def __call__(self, text: str) -> int | float:
        try:
            value: int | float = int(text) if self.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {self.rule}; got {_shown(text)}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be {self.rule}; got {_shown(text)}")
        too_low = self.low is not None and (value <= self.low if self.open_low else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.open_high else value > self.high)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {self.rule}; got {_shown(text)}")
        return value


def integer(low: int | None = None, high: int | None = None, why: str = "") -> Number:
    return Number(low, high, integer=True, why=why)


def seed() -> Number:
    return integer(0, MAX_SEED)


class SetSize(Number):
    """A probe set size, or ``any`` (also 0) to keep each set size apart."""

    def __init__(self):
        super().__init__(1, None, integer=True, why=" or 'any'")

    def __call__(self, text: str) -> int | str:
        if text.strip().lower() in ("any", "0"):
            return "any"
        return super().__call__(text)


class _PathCheck(abc.ABC):
    kind = "path"

    def __call__(self, text: str) -> str:
        if not text or "\0" in text:
            raise argparse.ArgumentTypeError(f"needs a {self.kind}; got {text!r}")
        self.check(Path(text))
        return text

    @abc.abstractmethod
    def check(self, path: Path) -> None:
        """Raise ``argparse.ArgumentTypeError`` when ``path`` is not what the option needs."""


class InputFile(_PathCheck):
    """An existing, readable regular file."""

    kind = "file to read"

    def check(self, path: Path) -> None:
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{str(path)!r} is a folder; give a file")
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"{str(path)!r} does not exist (or is not a regular file)")
        if not os.access(path, os.R_OK):
            raise argparse.ArgumentTypeError(f"{str(path)!r} is not readable")


class InputFolder(_PathCheck):
    """An existing folder."""

    kind = "folder"

    def check(self, path: Path) -> None:
        if not path.is_dir():
            what = "is a file" if path.exists() else "does not exist"
            raise argparse.ArgumentTypeError(f"{str(path)!r} {what}; give a folder")


class InputPath(_PathCheck):
    """An existing file or folder."""

    kind = "file or folder"

    def check(self, path: Path) -> None:
        if not path.exists():
            raise argparse.ArgumentTypeError(f"{str(path)!r} does not exist")


def _writable_below(path: Path) -> None:
    """The nearest existing folder above ``path`` is a folder that accepts a new file (tried, then removed)."""
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {str(path)!r}: {str(parent)!r} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".dastat-write-check-"):
            pass
    except OSError as err:
        raise argparse.ArgumentTypeError(f"cannot write in {str(parent)!r}: {err.strerror or err}") from None


class OutputFile(_PathCheck):
    """A file to write: not a folder, in a folder that can be written (created as needed), with one of
    ``suffixes`` when given."""

    kind = "file to write"

    def __init__(self, suffixes: tuple[str, ...] = ()):
        self.suffixes = suffixes

    def check(self, path: Path) -> None:
        if self.suffixes and path.suffix.lower().lstrip(".") not in self.suffixes:
            raise argparse.ArgumentTypeError(f"{str(path)!r} must end in "
                                             f"{', '.join('.' + s for s in self.suffixes)}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{str(path)!r} is a folder; give a file name")
        if path.exists() and not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"{str(path)!r} is not writable")
        _writable_below(path)


class OutputFolder(_PathCheck):
    """A folder to write in: an existing folder, or a new one that can be created."""

    kind = "folder to write"

    def check(self, path: Path) -> None:
        if path.exists() and not path.is_dir():
            raise argparse.ArgumentTypeError(f"{str(path)!r} is a file; give a folder")
        if path.is_dir():
            _writable_below(path / "x")
        else:
            _writable_below(path)


class StoreFile(_PathCheck):
    """A results store path: not a folder, below a folder (whether it can be written is the store's check)."""

    kind = "store file"

    def check(self, path: Path) -> None:
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{str(path)!r} is a folder; give the store's file name, "
                                             f"e.g. {str(path / 'dastat.sqlite')!r}")
        parent = next((p for p in path.absolute().parents if p.exists()), None)
        if parent is None or not parent.is_dir():
            raise argparse.ArgumentTypeError(f"{str(path)!r} is below {str(parent)!r}, which is a file")


class FileOrName(_PathCheck):
    """A name (checked by ``names``, a :class:`Name`) or, when it looks like a path, an existing readable file."""

    kind = "name or file"

    def __init__(self, names: Name):
        self.names = names

    def check(self, path: Path) -> None:
        looks_like_file = path.suffix.lower() in (".yaml", ".yml") or len(path.parts) > 1 or path.exists()
        if looks_like_file:
            InputFile().check(path)
        else:
            self.names.check(str(path))


def _call(ref: str, *args: object) -> object:
    """``"module:function"`` (or ``"module:REGISTRY.get"``) called with ``args``; ``"module:NAME"``, a constant,
    as it is. A registry is imported only when its option is given."""
    module, _, path = ref.partition(":")
    found = importlib.import_module(module)
    for name in path.split("."):
        found = getattr(found, name)
    return found(*args) if callable(found) else found


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Name:
    """A name that must exist, checked by its registry's own lookup; an empty string is refused.

    ``known`` is a ``"module:function"`` listing the names (or the names themselves); ``lookup``, a
    ``"module:function"`` that raises a ``DastatError`` for a name that does not exist (the registry's
    own ``get``, which knows parameterised names such as ``mixup(alpha=0.2)``), replaces the listing
    for the check. ``also`` are words accepted without asking (the option's default, ``all``), so an
    option left at its default imports nothing.
    """

    def __init__(self, what: str, known: str | Sequence[str], *, lookup: str | None = None,
                 also: Sequence[str] = ()):
        self.what, self.known, self.lookup, self.also = what, known, lookup, tuple(also)

    def names(self) -> list[str]:
        return list(dict.fromkeys([*self.also, *(_call(self.known) if isinstance(self.known, str) else self.known)]))

    def known_text(self) -> str:
        names = self.names()
        return f" Known {self.what}s: {', '.join(names)}" if names else ""

    def check(self, name: str) -> str:
        if not name:
            raise argparse.ArgumentTypeError(f"needs a {self.what} name; got an empty one.{self.known_text()}")
        if name in self.also:
            return name
        from dastat.errors import DastatError, UnknownNameError

        if self.lookup is None:
            if name not in self.names():
                raise argparse.ArgumentTypeError(_one_line(str(UnknownNameError(self.what, name, self.names()))))
            return name
        try:
            _call(self.lookup, name)
        except DastatError as err:
            raise argparse.ArgumentTypeError(_one_line(str(err))) from None
        return name

    def __call__(self, text: str) -> str:
        return self.check(text.strip())


class Names(Name):
    """A comma-separated list of names (``all`` and the like whole); a comma inside parentheses belongs to
    its name (``mixup(alpha=0.2,beta=1)``). Returns the text, every name in it checked."""

    def __call__(self, text: str) -> str:
        names = split_names(text)
        if text.strip() not in self.also and (not any(names) or not all(names)):
            raise argparse.ArgumentTypeError(f"needs comma-separated {self.what} names; got {_shown(text)}."
                                             f"{self.known_text()}")
        if text.strip() not in self.also:
            for name in names:
                self.check(name)
        return text.strip()


def split_names(text: str) -> list[str]:
    """``"a, b(x=1,y=2)"`` -> ``["a", "b(x=1,y=2)"]``; empty items stay (as ``""``) for the caller to refuse."""
    from dastat.checks import split_outside_parentheses

    return [part.strip() for part in split_outside_parentheses(text)]


class Device:
    """``auto``, ``cpu`` or ``cuda[:N]``, and present here (checked by dastat.device, which imports torch)."""

    what = "device"
    also = ("auto",)

    def __call__(self, text: str) -> str:
        spec = text.strip()
        if spec in self.also:  # the default: nothing to import
            return spec
        kinds = ("auto", "cpu", "cuda", "cuda:N")
        if not spec:
            raise argparse.ArgumentTypeError(f"needs a device; got an empty one. Known devices: {', '.join(kinds)}")
        if spec.lower().partition(":")[0] not in ("cpu", "cuda"):
            near = difflib.get_close_matches(spec.lower(), kinds, n=2)
            hint = f" Did you mean {' or '.join(map(repr, near))}?" if near else ""
            raise argparse.ArgumentTypeError(f"unknown device {spec!r}.{hint} Known devices: {', '.join(kinds)}")
        from dastat.errors import DastatError

        try:
            _call("dastat.device:resolve_device", spec)
        except DastatError as err:
            raise argparse.ArgumentTypeError(_one_line(str(err))) from None
        return spec


class Column(Name):
    """A column (or a value of one) of the results table: non-empty here; whether the table has it is
    checked once the table is read (:func:`dastat.cli.correlate.read_source`), against what it holds."""

    def __init__(self, what: str):
        super().__init__(what, ())

    def check(self, name: str) -> str:
        if not name:
            raise argparse.ArgumentTypeError(f"needs a {self.what}; got an empty one")
        return name


class Columns(Names, Column):
    """A comma-separated list of :class:`Column`; ``also`` words (``all``) are taken whole."""

    def __init__(self, what: str, also: Sequence[str] = ()):
        Column.__init__(self, what)
        self.also = tuple(also)

    def names(self) -> list[str]:
        return []  # the table's columns, known once it is read


class KeyValue:
    """``KEY=VALUE`` with a non-empty key; ``keys`` (a :class:`Name`) checks the key when given."""

    def __init__(self, example: str, keys: Name | None = None):
        self.example, self.keys = example, keys

    def __call__(self, text: str) -> str:
        key, sep, _ = text.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"takes KEY=VALUE, e.g. {self.example}; got {_shown(text)}")
        if self.keys is not None:
            self.keys.check(key.strip())
        return text
