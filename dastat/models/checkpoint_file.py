"""Reading a checkpoint file without running code from it.

Checkpoints are downloaded from strangers, and unpickling can run arbitrary code. Files are
read with ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers,
plus a short allow-list of harmless classes found in real checkpoints. Anything else is refused
unless the caller trusts the file explicitly.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from dastat.errors import CheckpointError, UntrustedCheckpointError

_TRUST_HINT = (
    "If you trust where the file came from, load it anyway with --trust-checkpoint (CLI) "
    "or trust=True (Python API); unpickling an untrusted file can run arbitrary code."
)


def _safe_globals() -> list:
    """Classes a weights-only load may rebuild: numpy scalars/arrays/dtypes and argparse.Namespace.

    numpy scalars appear as logged accuracies, arrays in some optimizer states, and a Namespace holds
    the options in RepDistiller's ``*_last.pth`` and torchdistill's ``args``; none runs code when rebuilt.
    """
    core = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    allowed: list = [np.dtype, np.ndarray, argparse.Namespace]
    # Files written under numpy 1 name these ``numpy.core.multiarray.*``, under numpy 2 ``numpy._core...``.
    for func in ("scalar", "_reconstruct"):
        obj = getattr(core, func)
        allowed += [(obj, f"numpy.core.multiarray.{func}"), (obj, f"numpy._core.multiarray.{func}")]
    for name in ("bool", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                 "float16", "float32", "float64", "complex64", "complex128"):
        allowed.append(type(np.dtype(name)))
    return allowed


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes (recorded with every result as the teacher's checksum)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _unsafe_globals(path: Path) -> list[str]:
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # legacy (non-zip) files cannot be scanned; the load error says enough
        return []


def check_path(path: str | Path) -> Path:
    """The checkpoint path as a Path, or CheckpointError if there is no file there."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"checkpoint file not found: {path}. Pass the path of a .pth/.pt file "
            "(RepDistiller teachers live at save/models/<arch>_vanilla/ckpt_epoch_240.pth)."
        )
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.pt*"))[:5]
        hint = f" It holds: {', '.join(inside)}." if inside else ""
        raise CheckpointError(f"checkpoint path {path} is a folder, not a file.{hint} Pass the file itself.")
    return path


def read_checkpoint(path: str | Path, trust: bool = False) -> object:
    """Unpickle a checkpoint file onto the CPU.

    Parameters
    ----------
    path : path of the file
    trust : bool
        Allow arbitrary unpickling (``weights_only=False``). Only for files from a trusted source.

    Returns
    -------
    object
        Whatever the file holds (a dict, a state_dict, ...), tensors on the CPU.

    Raises
    ------
    CheckpointError
        Missing, empty, truncated or corrupt file, or not a PyTorch checkpoint.
    UntrustedCheckpointError
        The file needs classes outside the allow-list and ``trust`` is False.
    """
    path = check_path(path)
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint file {path} is empty (0 bytes); it was not written completely.")
    try:
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        blocked = _unsafe_globals(path)
        if not trust and (blocked or "GLOBAL" in text or "global" in text.split("WeightsUnpickler")[-1]):
            names = ", ".join(blocked[:5]) if blocked else _quoted_global(text)
            raise UntrustedCheckpointError(
                f"checkpoint {path} needs arbitrary unpickling (it refers to {names}), which is refused "
                f"because it can run code. {_TRUST_HINT}"
            ) from None
        raise _unreadable(path, err) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError, zipfile.BadZipFile,
            AttributeError, ImportError, IndexError, TypeError) as err:
        raise _unreadable(path, err) from None


def _quoted_global(text: str) -> str:
    for line in text.splitlines():
        if "GLOBAL" in line:
            return line.strip()
    return "a class outside the allow-list"


def _unreadable(path: Path, err: Exception) -> CheckpointError:
    first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return CheckpointError(
        f"cannot read {path} as a PyTorch checkpoint: it is truncated, corrupt or not a checkpoint "
        f"({type(err).__name__}: {first}). Re-download or re-save the file; torch.save writes the "
        "format expected here."
    )
