"""argparse ``type=`` checks: every number and path is checked where it is parsed, before any work.

Each check is a small callable object (so the bad-input tests can find every option's kind from the
parser) that returns the cleaned value or raises ``argparse.ArgumentTypeError`` with the rule broken,
which argparse prints as ``dastat CMD: error: argument --opt: ...`` with exit status 2.
"""

from __future__ import annotations

import abc
import argparse
import math
import os
import tempfile
from pathlib import Path

# Upper bounds of arguments whose memory or work grows with them; each message states it.
MAX_SEED = 2**32 - 1
MAX_IMAGE_SIZE = 1024
MAX_BATCH = 65536
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
    """A name (checked by whoever reads it) or, when it looks like a path, an existing readable file."""

    kind = "name or file"

    def check(self, path: Path) -> None:
        looks_like_file = path.suffix.lower() in (".yaml", ".yml") or len(path.parts) > 1 or path.exists()
        if looks_like_file:
            InputFile().check(path)
