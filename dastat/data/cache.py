"""The decoding cache: decoded uint8 tensors saved once, keyed by the source files' stats."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import torch

# Bump when the decoding of any dataset changes, so old cache files stop matching.
CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """``$DASTAT_CACHE`` if set, else ``~/.cache/dastat``."""
    env = os.environ.get("DASTAT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dastat"


def file_stats(paths: list[Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime in ns) of each file: a change to any of them changes the key."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append((str(Path(p).resolve()), st.st_size, st.st_mtime_ns))
    return out


def cache_key(name: str, split: str, params: dict, files: list[Path], extra: object = None) -> str:
    """Hex digest over the format version, dataset, decoding parameters and file stats."""
    blob = json.dumps([CACHE_FORMAT, name, split, params, file_stats(files), extra], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class DecodeCache:
    """Cache files under one folder; unwritable or unreadable caches degrade to "no cache" with a warning.

    Parameters
    ----------
    cache_dir : path, None or False
        Folder for the cache files; None uses :func:`default_cache_dir`; False turns caching off.
    """

    def __init__(self, cache_dir: str | os.PathLike | bool | None = None):
        if cache_dir is False:
            self.root = None
        else:
            self.root = default_cache_dir() if cache_dir in (None, True) else Path(cache_dir).expanduser()

    def path(self, name: str, split: str, key: str) -> Path | None:
        """Where the entry for ``key`` lives (None when caching is off)."""
        return None if self.root is None else self.root / f"{name}-{split}-{key[:24]}.pt"

    def load(self, path: Path | None) -> dict | None:
        """The saved payload, or None when absent or unreadable (a damaged entry is just a miss)."""
        if path is None or not path.is_file():
            return None
        try:
            return torch.load(path, weights_only=True)
        except Exception as exc:  # any damage to a cache file means "decode again"
            warnings.warn(f"ignoring unreadable cache file {path} ({exc}); decoding again", stacklevel=3)
            return None

    def save(self, path: Path | None, payload: dict) -> bool:
        """Write ``payload`` atomically (temp file + rename); False, with a warning, when impossible."""
        if path is None:
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            os.close(fd)
            try:
                torch.save(payload, tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            warnings.warn(
                f"cannot write the decoding cache in {path.parent} ({exc}); continuing without it. "
                "Set $DASTAT_CACHE or cache_dir= to a writable folder to load faster next time.",
                stacklevel=3,
            )
            return False
        return True
