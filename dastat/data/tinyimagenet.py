"""``tinyimagenet``: Tiny ImageNet's ``tiny-imagenet-200`` folder, 200 classes of 64x64 JPEGs.

Layout: ``ROOT/tiny-imagenet-200/{wnids.txt, words.txt (optional), train/<wnid>/images/*.JPEG,
val/images/*.JPEG, val/val_annotations.txt}``. Split "test" is the labelled val set (the real
test set has no labels). Class index = position of the wnid in sorted order, as torchvision's
ImageFolder assigns it (``wnids.txt`` itself is not sorted); ``classes`` are the wnids and
``source["class_words"]`` the words.txt descriptions when that file is present.
Every image must be 64x64 before any resizing (``image_size=`` resizes with bilinear filtering).
"""

from __future__ import annotations

from pathlib import Path

import torch

from dastat.constants import IMAGENET
from dastat.data.images import FileImageReader, is_image_file
from dastat.data.layout import find_folder, need_root
from dastat.data.registry import DATASETS
from dastat.data.source import FileSource
from dastat.errors import DataError

FOLDER = "tiny-imagenet-200"
NATIVE = 64


def _wnids(base: Path) -> list[str]:
    path = base / "wnids.txt"
    wnids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not wnids:
        raise DataError(f"{path} lists no classes; expected one wnid (e.g. n01443537) per line.")
    if len(set(wnids)) != len(wnids):
        raise DataError(f"{path} lists some wnid twice; expected each class once. Re-extract the archive.")
    return sorted(wnids)


def _words(base: Path, wnids: list[str]) -> list[str] | None:
    path = base / "words.txt"
    if not path.is_file():
        return None
    words = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        wnid, _, text = line.partition("\t")
        words[wnid.strip()] = text.strip()
    return [words.get(w, w) for w in wnids]


def _train(base: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    paths, labels = [], []
    for label, wnid in enumerate(wnids):
        folder = base / "train" / wnid / "images"
        if not folder.is_dir():
            raise DataError(
                f"tinyimagenet: missing class folder {folder}; wnids.txt lists {wnid}, so expected "
                f"train/{wnid}/images/*.JPEG. Re-extract the archive."
            )
        files = sorted(p for p in folder.iterdir() if is_image_file(p))
        if not files:
            raise DataError(f"tinyimagenet: class folder {folder} is empty; expected {wnid}_<n>.JPEG images.")
        paths += files
        labels += [label] * len(files)
    return paths, labels


def _val(base: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    ann = base / "val" / "val_annotations.txt"
    if not ann.is_file():
        raise DataError(
            f"tinyimagenet: missing {ann}; expected the tab-separated val labels "
            "(<file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1> per line). Re-extract the archive."
        )
    index = {w: i for i, w in enumerate(wnids)}
    paths, labels = [], []
    for lineno, line in enumerate(ann.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{ann}, line {lineno}: {line!r} is not '<file>\\t<wnid>\\t...' (tab-separated).")
        name, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in index:
            raise DataError(
                f"{ann}, line {lineno}: class {wnid!r} is not in wnids.txt ({len(wnids)} classes), so "
                "its label would be out of range; the annotations and wnids.txt do not match."
            )
        path = base / "val" / "images" / name
        if not path.is_file():
            raise DataError(f"{ann}, line {lineno}: names {name}, but {path} does not exist.")
        paths.append(path)
        labels.append(index[wnid])
    if not paths:
        raise DataError(f"{ann} lists no images; expected 10,000 lines (50 per class).")
    return paths, labels


@DATASETS.register("tinyimagenet")
def tinyimagenet(root: Path | None, split: str = "train", image_size: int | None = None, seed: int = 0) -> FileSource:
    """Tiny ImageNet train or val ("test"); see the module docstring."""
    base = find_folder("tinyimagenet", need_root("tinyimagenet", root, f"{FOLDER}/"), FOLDER, "wnids.txt")
    wnids = _wnids(base)
    paths, labels = _train(base, wnids) if split == "train" else _val(base, wnids)
    size = None if image_size in (None, NATIVE) else image_size
    words = _words(base, wnids)
    return FileSource(
        name="tinyimagenet",
        split=split,
        root=root,
        classes=wnids,
        mean=IMAGENET[0],
        std=IMAGENET[1],
        params={"image_size": size or NATIVE, "resize": "bilinear"},
        reader=FileImageReader(paths, size, expect_hw=(NATIVE, NATIVE)),
        labels=torch.tensor(labels, dtype=torch.int64),
        info={"folder": str(base), **({"class_words": words} if words else {})},
    )
