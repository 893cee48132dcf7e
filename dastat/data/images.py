"""Decoding image files (JPEG, PNG, ...) into uint8 [3,H,W] tensors, with the resize rule."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from dastat.errors import DataError

# What counts as an image in a class folder (lower-case suffixes; torchvision's ImageFolder list).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def is_image_file(path: Path) -> bool:
    """Whether ``path`` has one of the image suffixes (case-blind); hidden files never count."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def decode_image(path: Path, size: int | None = None, expect_hw: tuple[int, int] | None = None) -> Tensor:
    """One image file as uint8 [3, H, W] RGB.

    Parameters
    ----------
    path : Path
        The image file.
    size : int, optional
        Output side: the shorter side is resized to ``size`` (bilinear, antialiased by PIL)
        and the centre ``size`` x ``size`` square is kept. None keeps the file's size.
    expect_hw : (int, int), optional
        The (height, width) every file must have before resizing (raises DataError otherwise).

    Returns
    -------
    Tensor, uint8, shape [3, H, W]
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's EXIF/ICC chatter is not the user's problem
            with Image.open(path) as img:
                img = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(
            f"cannot read image {path}: {exc}. Expected a readable image file (JPEG, PNG, ...); "
            "replace or delete the file."
        ) from None
    if expect_hw is not None and (img.height, img.width) != tuple(expect_hw):
        raise DataError(
            f"image {path} is {img.height}x{img.width} (HxW) but this dataset's images must all be "
            f"{expect_hw[0]}x{expect_hw[1]}; replace the file with the original, or load it as "
            "'imagefolder' with image_size= to resize everything."
        )
    if size is not None and (img.width, img.height) != (size, size):
        scale = size / min(img.width, img.height)
        w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
        img = img.resize((w, h), Image.BILINEAR)
        left, top = (w - size) // 2, (h - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()


class FileImageReader:
    """Rows of image files decoded on demand (picklable, so DataLoader workers can use it).

    Parameters
    ----------
    paths : list of Path
        One file per row.
    size : int, optional
        Output side (see :func:`decode_image`); None keeps the files' own size.
    expect_hw : (int, int), optional
        Size every file must have before resizing.
    """

    def __init__(self, paths: list[Path], size: int | None, expect_hw: tuple[int, int] | None = None):
        self.paths = list(paths)
        self.size = size
        self.expect_hw = expect_hw

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def image_hw(self) -> tuple[int, int]:
        """Output (height, width); opens the first file when the size is not fixed."""
        if self.size is not None:
            return (self.size, self.size)
        if self.expect_hw is not None:
            return tuple(self.expect_hw)
        return tuple(decode_image(self.paths[0]).shape[1:])

    def read(self, rows: list[int]) -> Tensor:
        """The images of ``rows`` stacked as uint8 [b, 3, H, W]."""
        out = [decode_image(self.paths[r], self.size, self.expect_hw) for r in rows]
        shapes = {tuple(x.shape) for x in out}
        if len(shapes) > 1:
            raise DataError(
                f"images of different sizes {sorted(shapes)} (e.g. {self.paths[rows[0]]}) cannot form "
                "one batch; pass image_size= so every image is resized to the same side."
            )
        return torch.stack(out) if out else torch.empty(0, 3, *self.image_hw, dtype=torch.uint8)
