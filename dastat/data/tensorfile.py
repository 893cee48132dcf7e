"""Rows of a cached uint8 tensor file, memory-mapped so only the rows read are paged in."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor


class TensorFileReader:
    """Reads image rows from a decode-cache file (``torch.save`` of ``{"images": uint8 [N,3,H,W]}``).

    The file is opened lazily with ``mmap=True`` in whichever process reads first, so the reader
    pickles cheaply into DataLoader workers.
    """

    def __init__(self, path: Path, image_hw: tuple[int, int], length: int):
        self.path = Path(path)
        self.image_hw = tuple(image_hw)
        self._length = length
        self._images: Tensor | None = None

    def __len__(self) -> int:
        return self._length

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_images": None}  # workers map the file themselves

    def read(self, rows: list[int]) -> Tensor:
        """The images of ``rows`` stacked as uint8 [b, 3, H, W]."""
        if self._images is None:
            self._images = torch.load(self.path, mmap=True, weights_only=True)["images"]
        return self._images[torch.as_tensor(rows, dtype=torch.int64)].clone()
