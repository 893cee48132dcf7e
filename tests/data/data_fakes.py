"""Tiny datasets written in the exact on-disk formats of the real ones (no downloads)."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image


class Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote for the real CIFAR files: every str (and bytes) as a
    byte string (SHORT_BINSTRING / BINSTRING opcodes) and numpy's globals under ``numpy.core``."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_py2_string(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    def save_py2_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + module.encode() + b"\n" + (name or obj.__qualname__).encode() + b"\n")
        self.memoize(obj)

    dispatch[str] = save_py2_string
    dispatch[bytes] = save_py2_string
    dispatch[type] = save_py2_global


def write_pickle(path: Path, obj: dict, style: str = "py2") -> None:
    """``style``: "py2" (as the real files), "bytes" (bytes keys) or "str" (a Python 3 pickle)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        if style == "py2":
            Py2Pickler(f, protocol=2).dump(obj)
        else:
            pickle.dump({(k.encode() if style == "bytes" else k): v for k, v in obj.items()}, f, protocol=2)


def make_cifar100(
    root: Path, n_train: int = 40, n_test: int = 20, num_classes: int = 100, seed: int = 0, style: str = "py2"
) -> dict:
    """ROOT/cifar-100-python/{train,test,meta}; returns the arrays written, per split."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-100-python"
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, num_classes, n)]
        write_pickle(
            base / split,
            {
                "filenames": [f"img_{i}.png" for i in range(n)],
                "batch_label": f"{split}ing batch 1 of 1",
                "fine_labels": fine,
                "coarse_labels": [f // 5 for f in fine],
                "data": data,
            },
            style,
        )
        out[split] = (data, fine)
    names = [f"fine{c:03d}" for c in range(num_classes)]
    write_pickle(
        base / "meta", {"fine_label_names": names, "coarse_label_names": [f"coarse{c}" for c in range(20)]}, style
    )
    out["names"] = names
    return out


def make_cifar10(root: Path, per_batch: int = 6, seed: int = 0, style: str = "py2") -> dict:
    """ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    out = {"train": [], "test": None}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        write_pickle(
            base / name,
            {
                "batch_label": name,
                "labels": labels,
                "data": data,
                "filenames": [f"{name}_{i}.png" for i in range(per_batch)],
            },
            style,
        )
        if name == "test_batch":
            out["test"] = (data, labels)
        else:
            out["train"].append((data, labels))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    write_pickle(
        base / "batches.meta", {"num_cases_per_batch": per_batch, "label_names": names, "num_vis": 3072}, style
    )
    out["names"] = names
    return out


def save_image(path: Path, array: np.ndarray) -> None:
    """Write an HxWx3 uint8 array; the suffix picks the format (PNG is lossless, JPEG is not)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=95) if path.suffix.lower() in (".jpeg", ".jpg") else Image.fromarray(
        array
    ).save(path)


def make_tinyimagenet(
    root: Path,
    wnids=("n02", "n01", "n03"),
    per_class: int = 3,
    val_per_class: int = 2,
    size: int = 64,
    seed: int = 0,
    words: bool = True,
) -> dict:
    """ROOT/tiny-imagenet-200/{wnids.txt, words.txt, train/<wnid>/images/*.JPEG, val/...}."""
    rng = np.random.default_rng(seed)
    base = root / "tiny-imagenet-200"
    base.mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("".join(f"{w}\n" for w in wnids))  # not sorted, as in the real file
    if words:
        (base / "words.txt").write_text(
            "".join(f"{w}\tthing {w}, other name\n" for w in wnids) + "n99\tnot in this dataset\n"
        )
    train = {}
    for w in wnids:
        (base / "train" / w).mkdir(parents=True, exist_ok=True)
        (base / "train" / w / f"{w}_boxes.txt").write_text(
            "".join(f"{w}_{i}.JPEG\t0\t0\t10\t10\n" for i in range(per_class))
        )
        for i in range(per_class):
            arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            save_image(base / "train" / w / "images" / f"{w}_{i}.JPEG", arr)
            train[f"{w}_{i}"] = arr
    lines, val = [], []
    k = 0
    for w in wnids:
        for _ in range(val_per_class):
            arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            save_image(base / "val" / "images" / f"val_{k}.JPEG", arr)
            lines.append(f"val_{k}.JPEG\t{w}\t0\t32\t44\t62\n")
            val.append((f"val_{k}.JPEG", w))
            k += 1
    (base / "val" / "val_annotations.txt").write_text("".join(lines))
    return {"wnids": list(wnids), "train": train, "val": val, "base": base}


def make_imagefolder(
    root: Path, classes=("cat", "dog"), per_class: int = 3, size=(12, 16), suffix: str = ".png", seed: int = 0
) -> dict:
    """ROOT/<class>/<image> with PNGs (lossless, so pixels can be checked exactly)."""
    rng = np.random.default_rng(seed)
    out = {}
    for c in classes:
        for i in range(per_class):
            arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            save_image(root / c / f"{c}_{i}{suffix}", arr)
            out[(c, i)] = arr
    return out
