"""User-facing errors: every message says what was wrong and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DastatError(Exception):
    """Base of every error whose message is written for the user (the CLI prints it, exit 2)."""


class InvalidArgumentError(DastatError, ValueError):
    """An argument has the wrong type, shape or value."""


class UnknownNameError(DastatError, LookupError):
    """A registry lookup (model, scheme, dataset, ...) found no such name."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = list(known)
        # Match case-blind: the zoo keeps RepDistiller's spelling (ResNet50, MobileNetV2).
        folded = {k.lower(): k for k in known}
        near = [folded[m] for m in difflib.get_close_matches(str(name).lower(), folded, n=3)]
        hint = f" Did you mean {' or '.join(map(repr, near))}?" if near else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(sorted(known))}.")
        self.kind, self.name, self.near = kind, name, near


class DataError(DastatError):
    """A dataset on disk is missing, malformed or inconsistent."""


class CheckpointError(DastatError):
    """A checkpoint cannot be read or does not fit the requested architecture."""


class ClassCountError(CheckpointError, InvalidArgumentError):
    """A model's class count differs from the dataset's (one error for probe, trainer and checkpoint loading)."""


class UntrustedCheckpointError(CheckpointError):
    """A checkpoint needs arbitrary unpickling, which is refused unless trusted explicitly."""


class NumericalError(DastatError):
    """A NaN or infinity appeared where a finite number was needed."""


class StoreError(DastatError):
    """The results store cannot be opened or written."""


class StoreCorruptError(StoreError):
    """SQLite reports the results store as malformed; it is not written to."""


class IngestError(DastatError):
    """A results file cannot be parsed; the message names the file and line."""


class ConfigError(DastatError):
    """A configuration (resume directory, sweep file, preset) is inconsistent."""
