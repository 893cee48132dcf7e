"""Finding a dataset's folder under the user's root, with a precise hint when it is one level off."""

from __future__ import annotations

from pathlib import Path

from dastat.errors import DataError


def need_root(name: str, root: Path | None, expected: str) -> Path:
    """``root`` as a Path, or DataError explaining what to pass when it is None or missing."""
    if root is None:
        raise DataError(
            f"dataset {name!r} needs a data folder: pass root= (CLI: --root) or set $DASTAT_DATA to the "
            f"folder that contains {expected}."
        )
    if not root.exists():
        raise DataError(f"{name}: root {root} does not exist; expected a folder that contains {expected}.")
    if not root.is_dir():
        raise DataError(f"{name}: root {root} is a file, not a folder; expected a folder that contains {expected}.")
    return root


def find_folder(name: str, root: Path, folder: str, marker: str) -> Path:
    """``root/folder``, checked to contain ``marker``; a root one level too deep or shallow is named.

    Parameters
    ----------
    name : the dataset's name, for messages
    root : the folder the user passed
    folder : the dataset's own folder name, e.g. ``"cifar-100-python"``
    marker : a file or folder inside ``folder`` that identifies it, e.g. ``"meta"``
    """
    base = root / folder
    if (base / marker).exists():
        return base
    if root.name == folder or (root / marker).exists():
        raise DataError(
            f"{name}: root {root} is the {folder} folder itself, one level too deep; "
            f"pass its parent {root.parent} as root."
        )
    below = sorted(p for p in root.glob(f"*/{folder}") if (p / marker).exists())
    if below:
        raise DataError(f"{name}: found {below[0]} one level below root {root}; pass {below[0].parent} as root.")
    archives = sorted(p.name for p in root.glob(f"{folder}*") if p.is_file())
    if archives:
        raise DataError(
            f"{name}: {root} holds the archive {archives[0]} but not the extracted folder {folder}/; "
            f"extract it there (e.g. `tar xzf {archives[0]}` or `unzip {archives[0]}`)."
        )
    if base.is_dir():
        raise DataError(
            f"{name}: {base} exists but has no {marker}; expected {base / marker}. Re-extract the original archive."
        )
    raise DataError(f"{name}: expected the folder {base} (containing {marker}); root {root} does not have it.")
