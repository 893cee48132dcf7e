"""``cifar100`` and ``cifar10``: the "python version" pickles as distributed by Alex Krizhevsky.

Layouts (``root`` is the folder that contains the extracted folder):

- ``ROOT/cifar-100-python/{train,test,meta}``: ``data`` uint8 [N, 3072] (1024 red, 1024 green,
  1024 blue values per row, each plane row-major 32x32), ``fine_labels``; meta ``fine_label_names``.
- ``ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``: ``data``, ``labels``;
  meta ``label_names``.

The files are Python 2 pickles: read with ``encoding="latin1"``, keys may come back as str or
bytes (both accepted). Unpickling is restricted to what these files hold (numpy arrays, lists),
so a doctored file cannot run code.
"""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dastat.constants import CIFAR10, CIFAR100
from dastat.data.layout import find_folder, need_root
from dastat.data.registry import DATASETS
from dastat.data.source import FileSource
from dastat.errors import DataError

CIFAR100_MEAN, CIFAR100_STD = CIFAR100
CIFAR10_MEAN, CIFAR10_STD = CIFAR10

# The globals a CIFAR pickle needs: numpy's array reconstruction (old and new module paths)
# and the codec Python 3 protocol-2 pickles use for bytes.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR pickle")
        return super().find_class(module, name)


def read_pickle(path: Path) -> dict:
    """One CIFAR pickle as a dict with str keys (DataError if missing, truncated or not a CIFAR file)."""
    if not path.is_file():
        raise DataError(f"missing file {path}; expected a CIFAR python pickle there. Re-extract the archive.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy.core -> numpy._core rename notices
            obj = _CifarUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        ImportError,
        MemoryError,
    ) as exc:
        raise DataError(
            f"cannot read {path}: {type(exc).__name__}: {exc}. Expected a complete CIFAR python pickle; "
            "the file is truncated or corrupt: re-download and re-extract the archive."
        ) from None
    if not isinstance(obj, dict):
        raise DataError(
            f"{path} holds a {type(obj).__name__}, not the dict a CIFAR pickle holds; re-extract the archive."
        )
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _field(batch: dict, key: str, path: Path):
    if key not in batch:
        raise DataError(
            f"{path} has no {key!r} entry (has {sorted(batch)}); expected a CIFAR pickle "
            f"with {key!r}. Is this the right file (CIFAR-10 vs CIFAR-100)?"
        )
    return batch[key]


def _names(meta_path: Path, key: str) -> list[str]:
    names = _field(read_pickle(meta_path), key, meta_path)
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def _decode(paths: list[Path], label_key: str, num_classes: int) -> tuple[Tensor, Tensor]:
    images, labels = [], []
    for path in paths:
        batch = read_pickle(path)
        data = np.asarray(_field(batch, "data", path))
        lab = np.asarray(_field(batch, label_key, path))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(
                f"{path}: 'data' is {data.dtype} {data.shape}; expected uint8 [N, 3072] "
                "(32x32 RGB, channel-major). Re-extract the archive."
            )
        if lab.ndim != 1 or len(lab) != len(data) or not np.issubdtype(lab.dtype, np.integer):
            raise DataError(f"{path}: {label_key!r} has {lab.shape} {lab.dtype}; expected {len(data)} integers.")
        if len(lab) and (lab.min() < 0 or lab.max() >= num_classes):
            raise DataError(
                f"{path}: labels run from {lab.min()} to {lab.max()}, but the meta file names "
                f"{num_classes} classes, so they must lie in [0, {num_classes - 1}]. "
                "Do the batch and meta files come from the same archive?"
            )
        images.append(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()))
        labels.append(torch.from_numpy(lab.astype(np.int64)))
    return torch.cat(images), torch.cat(labels)


def _source(name, root, split, folder, marker, batches, meta, label_key, names_key, mean, std):
    base = find_folder(name, need_root(name, root, f"{folder}/"), folder, marker)
    classes = _names(base / meta, names_key)
    paths = [base / b for b in batches]
    for p in paths:
        if not p.is_file():
            raise DataError(f"{name}: missing {p}; expected {', '.join(batches)} in {base}. Re-extract the archive.")
    return FileSource(
        name=name,
        split=split,
        root=root,
        classes=classes,
        mean=mean,
        std=std,
        params={"format": "cifar-python"},
        files=[*paths, base / meta],
        decode_all=lambda: _decode(paths, label_key, len(classes)),
        info={"folder": str(base)},
    )


def _resize_refused(name: str, image_size: int | None) -> None:
    if image_size not in (None, 32):
        raise DataError(
            f"{name} images are 32x32; image_size={image_size} is not supported. Leave image_size unset (or 32)."
        )


@DATASETS.register("cifar100")
def cifar100(root: Path | None, split: str = "train", image_size: int | None = None, seed: int = 0) -> FileSource:
    """CIFAR-100 from ``ROOT/cifar-100-python/{train,test,meta}`` (fine labels, 100 classes)."""
    _resize_refused("cifar100", image_size)
    return _source(
        "cifar100",
        root,
        split,
        "cifar-100-python",
        "meta",
        [split],
        "meta",
        "fine_labels",
        "fine_label_names",
        CIFAR100_MEAN,
        CIFAR100_STD,
    )


@DATASETS.register("cifar10")
def cifar10(root: Path | None, split: str = "train", image_size: int | None = None, seed: int = 0) -> FileSource:
    """CIFAR-10 from ``ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``."""
    _resize_refused("cifar10", image_size)
    batches = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    return _source(
        "cifar10",
        root,
        split,
        "cifar-10-batches-py",
        "batches.meta",
        batches,
        "batches.meta",
        "labels",
        "label_names",
        CIFAR10_MEAN,
        CIFAR10_STD,
    )
