"""``mnist``, ``fashion_mnist``, ``kmnist``: 28x28 grey images in the IDX files MNIST is distributed in.

Each dataset is four files, gzipped (``.gz``) or not: ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``. An IDX file
opens with a magic number (0x00000803: unsigned bytes, 3 dimensions, for images; 0x00000801 for
labels), then each dimension as a big-endian uint32, then the values row-major.

Where: the dataset's own folder under ``root`` (torchvision's ``MNIST/raw``, ``FashionMNIST/raw``,
``KMNIST/raw``, or a lower-case one: ``mnist``, ``fashion_mnist``, ``fashion-mnist``, ``kmnist``),
else ``root`` itself. The first of these holding the training images is used.

Pixels (docs/method.md, "Data on disk"): each 28x28 image is padded with 2 px of zeros on every side
to the zoo's 32x32 (LeNet-5's input: the 28x28 field centred in 32x32) and copied to three channels;
no pixel is interpolated. ``image_size`` other than 32 resizes the padded image bilinearly (with
antialiasing). Mean/std come from the training split, for both splits.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dastat.data.layout import need_root
from dastat.data.normalisation import channel_stats
from dastat.data.registry import DATASETS
from dastat.data.source import FileSource
from dastat.errors import DataError

NATIVE = 28
PADDED = 32
PAD = (PADDED - NATIVE) // 2
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions [N, rows, cols]
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension [N]
STEMS = {"train": "train", "test": "t10k"}
HOW_TO_GET = "docs/method.md, \"Data on disk\", says where to get the four files"

# MNIST's class counts (LeCun et al.; the same as get_mnist.py checks and as the files load here): the other two
# datasets share its file names and sizes, so these counts are what tells MNIST's files apart from theirs.
MNIST_COUNTS = {"train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
                "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)}
# Class names as torchvision gives them; KMNIST's are the romanised hiragana of its class map.
_CLASSES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
}
_FOLDERS = {
    "mnist": ("MNIST/raw", "mnist"),
    "fashion_mnist": ("FashionMNIST/raw", "fashion_mnist", "fashion-mnist"),
    "kmnist": ("KMNIST/raw", "kmnist"),
}


def _file(folder: Path, stem: str) -> Path | None:
    """``stem`` in ``folder``, plain or gzipped (plain first: no inflating); None when neither exists."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def _images_stem(split: str) -> str:
    return f"{STEMS[split]}-images-idx3-ubyte"


def _labels_stem(split: str) -> str:
    return f"{STEMS[split]}-labels-idx1-ubyte"


def find_idx_folder(name: str, root: Path) -> Path:
    """The first of the dataset's usual folders under ``root`` (then ``root``) holding its training images."""
    candidates = [root / sub for sub in _FOLDERS[name]] + [root]
    for folder in candidates:
        if _file(folder, _images_stem("train")) is not None:
            return folder
    own = _FOLDERS[name][0].split("/")[0]  # MNIST, FashionMNIST, KMNIST: torchvision's folder above raw/
    if root.name == own and _file(root / "raw", _images_stem("train")) is not None:
        raise DataError(f"{name}: root {root} is the {own} folder itself, one level too deep; pass its parent "
                        f"{root.parent} as root.")
    below = sorted(p for sub in _FOLDERS[name] for p in root.glob(f"*/{sub}")
                   if _file(p, _images_stem("train")) is not None)
    if below:
        parent = root / below[0].relative_to(root).parts[0]
        raise DataError(f"{name}: found its files in {below[0]}, one level below root {root}; pass {parent} as root.")
    looked = ", ".join(str(c) for c in candidates)
    raise DataError(f"{name}: no {_images_stem('train')}[.gz] in {looked}; put the four IDX files of {name} in "
                    f"one of these folders ({HOW_TO_GET}).")


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":  # gzip's own magic: decide by content, not by the name
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot inflate {path}: {exc}; the gzip file is truncated or corrupt. "
                        f"Download it again ({HOW_TO_GET}).") from None


def read_idx(path: Path, *, magic: int, what: str) -> np.ndarray:
    """The uint8 array of one IDX file, checked against its header (DataError naming the file otherwise).

    Parameters
    ----------
    path : the file, gzipped or not
    magic : ``IMAGES_MAGIC`` or ``LABELS_MAGIC``
    what : "images" or "labels", for messages
    """
    raw = _read_bytes(path)
    fix = f"Download it again ({HOW_TO_GET})."
    if len(raw) < 4:
        raise DataError(f"{path} is {len(raw)} bytes long, too short for an IDX header; the file is truncated. {fix}")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        other = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}.get(found)
        kind = f"an IDX {other} file" if other else "not an IDX file of unsigned bytes"
        raise DataError(f"{path} starts with 0x{found:08X}, not the magic number 0x{magic:08X} of IDX {what}: it is "
                        f"{kind}. Is the file in the right place under its standard name? {fix}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is {len(raw)} bytes long, shorter than its {header}-byte IDX header; the file is "
                        f"truncated. {fix}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    body = len(raw) - header
    if body != expected:
        state = "truncated" if body < expected else "longer than its header says"
        raise DataError(f"{path} holds {body:,} bytes of {what}, but its header announces {' x '.join(map(str, dims))}"
                        f" = {expected:,}; the file is {state}. {fix}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_images(path: Path) -> np.ndarray:
    images = read_idx(path, magic=IMAGES_MAGIC, what="images")
    if images.shape[1:] != (NATIVE, NATIVE):
        raise DataError(f"{path} holds {images.shape[1]}x{images.shape[2]} images; MNIST-format datasets are "
                        f"{NATIVE}x{NATIVE}. Is this the right file? Download it again ({HOW_TO_GET}).")
    return images


def _not_mnist_files(name: str, split: str, path: Path, labels: np.ndarray) -> None:
    if name != "mnist" and tuple(np.bincount(labels, minlength=10).tolist()) == MNIST_COUNTS[split]:
        raise DataError(f"{name}: {path} holds MNIST's labels (its class counts are MNIST's), not {name}'s; the "
                        f"four files share their names across datasets. Put {name}'s files in "
                        f"{' or '.join(_FOLDERS[name])} under root, or pass the folder that holds them ({HOW_TO_GET}).")


def _read_labels(path: Path, images_path: Path, num_images: int, num_classes: int) -> np.ndarray:
    labels = read_idx(path, magic=LABELS_MAGIC, what="labels")
    if len(labels) != num_images:
        raise DataError(f"{path} holds {len(labels):,} labels but {images_path} holds {num_images:,} images; the two "
                        f"files come from different downloads or splits. Download both again ({HOW_TO_GET}).")
    if len(labels) and labels.max() >= num_classes:
        raise DataError(f"{path} has label {int(labels.max())}, but the dataset has {num_classes} classes "
                        f"(0..{num_classes - 1}); the file is not this dataset's. Download it again ({HOW_TO_GET}).")
    return labels


def to_rgb32(grey: np.ndarray, image_size: int) -> Tensor:
    """uint8 [N, 28, 28] -> uint8 [N, 3, S, S]: 2 px of zeros on every side, three equal channels, then resized."""
    padded = F.pad(torch.from_numpy(grey.copy()), (PAD, PAD, PAD, PAD))[:, None]  # [N, 1, 32, 32]
    if image_size != PADDED:
        resized = F.interpolate(padded.float(), size=(image_size, image_size), mode="bilinear", align_corners=False,
                                antialias=True)
        padded = resized.round().clamp(0, 255).to(torch.uint8)
    return padded.expand(-1, 3, -1, -1).contiguous()


def _decode(name: str, split: str, image_size: int, num_classes: int, paths: dict[str, Path]) -> tuple:
    grey = _read_images(paths["images"])
    labels = _read_labels(paths["labels"], paths["images"], len(grey), num_classes)
    _not_mnist_files(name, split, paths["labels"], labels)
    images = to_rgb32(grey, image_size)
    # docs/method.md, "Data on disk": both splits are normalised with the training split's statistics.
    train_images = images if split == "train" else to_rgb32(_read_images(paths["train_images"]), image_size)
    mean, std = channel_stats(train_images)
    return images, torch.from_numpy(labels.astype(np.int64)), {"mean": mean, "std": std}


def _paths(name: str, folder: Path, split: str) -> dict[str, Path]:
    wanted = {"images": _images_stem(split), "labels": _labels_stem(split), "train_images": _images_stem("train")}
    paths = {}
    for key, stem in wanted.items():
        path = _file(folder, stem)
        if path is None:
            raise DataError(f"{name}: {folder} has {_images_stem('train')} but no {stem}[.gz]; expected the four IDX "
                            f"files together there. Add the missing file ({HOW_TO_GET}).")
        paths[key] = path
    return paths


def _source(name: str, root: Path | None, split: str, image_size: int | None) -> FileSource:
    expected = " or ".join(f"{sub}/" for sub in _FOLDERS[name]) + " (or the four IDX files themselves)"
    folder = find_idx_folder(name, need_root(name, root, expected))
    paths = _paths(name, folder, split)
    size = image_size or PADDED
    classes = _CLASSES[name]
    files = list(dict.fromkeys(paths.values()))
    return FileSource(
        name=name,
        split=split,
        root=root,
        classes=classes,
        mean=None,
        std=None,
        params={"format": "idx", "image_size": size, "rule": "pad 2 px with zeros, grey to 3 channels"},
        files=files,
        decode_all=lambda: _decode(name, split, size, len(classes), paths),
        info={"folder": str(folder), "image_size": size, "native_size": NATIVE,
              "rule": "28x28 padded with 2 px of zeros to 32x32, copied to 3 channels"
              + ("" if size == PADDED else f", resized to {size} px (bilinear, antialiased)")},
    )


@DATASETS.register("mnist")
def mnist(root: Path | None, split: str = "train", image_size: int | None = None, seed: int = 0) -> FileSource:
    """MNIST (LeCun et al. 1998): 60,000 train and 10,000 test handwritten digits; see the module docstring."""
    return _source("mnist", root, split, image_size)


@DATASETS.register("fashion_mnist")
def fashion_mnist(root: Path | None, split: str = "train", image_size: int | None = None, seed: int = 0) -> FileSource:
    """Fashion-MNIST (Xiao et al. 2017): 10 classes of clothing in MNIST's format; see the module docstring."""
    return _source("fashion_mnist", root, split, image_size)


@DATASETS.register("kmnist")
def kmnist(root: Path | None, split: str = "train", image_size: int | None = None, seed: int = 0) -> FileSource:
    """Kuzushiji-MNIST (Clanuwat et al. 2018): 10 cursive hiragana in MNIST's format; see the module docstring."""
    return _source("kmnist", root, split, image_size)
