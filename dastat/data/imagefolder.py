"""``imagefolder``: any ``ROOT/<class>/<image>`` tree (or ``ROOT/{train,test}/<class>/<image>``).

When ``ROOT/train`` exists the tree is split by folder (``test`` falls back to ``val``).
Classes are the sub-folder names in sorted order (torchvision's ImageFolder rule); images are
found recursively. Every image is resized so its shorter side is ``image_size`` (default 224,
bilinear with PIL's antialiasing) and the centre square is kept. Mean/std are computed from the
loaded images (``normalisation="data"``) or are ImageNet's (``normalisation="imagenet"``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from dastat.checks import check_choice
from dastat.constants import IMAGENET
from dastat.data.images import FileImageReader, is_image_file
from dastat.data.layout import need_root
from dastat.data.registry import DATASETS
from dastat.data.source import FileSource
from dastat.errors import DataError

DEFAULT_SIZE = 224


def _split_folder(root: Path, split: str) -> Path:
    if not (root / "train").is_dir():
        return root
    for name in (split, "val") if split == "test" else (split,):
        if (root / name).is_dir():
            return root / name
    raise DataError(
        f"imagefolder: {root} has a train/ folder, so splits live in sub-folders, but there is no "
        f"{root / 'test'} (or val/); expected {root}/test/<class>/<image>."
    )


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))


def _classes(folder: Path) -> list[Path]:
    dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        direct = [p for p in folder.iterdir() if p.is_file() and is_image_file(p)]
        hint = (
            f" It holds image files directly: it looks like one class folder, one level too deep; "
            f"pass its parent {folder.parent} as root."
            if direct
            else ""
        )
        raise DataError(f"imagefolder: {folder} has no class sub-folders; expected {folder}/<class>/<image>.{hint}")
    if len(dirs) == 1 and not any(is_image_file(p) for p in dirs[0].iterdir() if p.is_file()):
        inner = [p for p in dirs[0].iterdir() if p.is_dir()]
        if inner:
            raise DataError(
                f"imagefolder: {folder} has a single sub-folder {dirs[0].name}/, which holds folders, not "
                f"images: root looks one level too shallow; pass {dirs[0]} as root."
            )
    return dirs


@DATASETS.register("imagefolder")
def imagefolder(
    root: Path | None,
    split: str = "train",
    image_size: int | None = None,
    seed: int = 0,
    *,
    normalisation: str = "data",
) -> FileSource:
    """An ImageFolder tree resized to ``image_size`` (default 224); see the module docstring."""
    normalisation = check_choice(normalisation, "normalisation", ("data", "imagenet"))
    root = need_root("imagefolder", root, "<class>/<image> folders")
    folder = _split_folder(root, split)
    dirs = _classes(folder)
    paths, labels = [], []
    for label, d in enumerate(dirs):
        files = _images(d)
        if not files:
            raise DataError(
                f"imagefolder: class folder {d} has no images; expected image files "
                "(.jpg, .jpeg, .png, ...) in it. Remove the folder or add images."
            )
        paths += files
        labels += [label] * len(files)
    size = image_size or DEFAULT_SIZE
    mean, std = IMAGENET if normalisation == "imagenet" else (None, None)
    return FileSource(
        name="imagefolder",
        split=split,
        root=root,
        classes=[d.name for d in dirs],
        mean=mean,
        std=std,
        params={"image_size": size, "resize": "shorter-side bilinear + centre crop"},
        reader=FileImageReader(paths, size),
        labels=torch.tensor(labels, dtype=torch.int64),
        info={"folder": str(folder), "normalisation": normalisation},
    )
