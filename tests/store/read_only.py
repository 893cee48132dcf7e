"""A folder nobody may write in, for real: ``chattr +i`` as root (root ignores mode bits), mode 0555 otherwise."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _set_immutable(folder: Path, on: bool) -> bool:
    try:
        done = subprocess.run(["chattr", "+i" if on else "-i", str(folder)], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """Inside the block, no process (root included) can create or remove a file in ``folder``.

    Skips the test where the file system offers no way (a root without ``chattr``, a non-ext file system).
    Files already inside stay as writable as they were: what is refused is the side files SQLite wants.
    """
    as_root = os.geteuid() == 0
    mode = folder.stat().st_mode
    if as_root:
        _set_immutable(folder, True)
    else:
        folder.chmod(0o555)
    try:
        probe = folder / ".dastat-probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip(f"cannot make {folder} read-only here")
        yield folder
    finally:
        if as_root:
            _set_immutable(folder, False)
        else:
            folder.chmod(mode)
