"""What a file-backed dataset builder returns: how to decode, not the decoded pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

from dastat.constants import Stats
from dastat.data.images import FileImageReader


@dataclass
class FileSource:
    """A dataset on disk, described so that :func:`dastat.data.load` can cache, subsample or stream it.

    Exactly one of ``decode_all`` (formats read whole, e.g. pickles) and ``reader`` (one file
    per image, read row by row; ``labels`` must then be known from the listing) is set.

    Attributes
    ----------
    name, split : registry name and split
    root : the folder the user passed
    classes : class names, index = label
    mean, std : normalisation constants, or None to compute them from the decoded images
    params : decoding parameters that change the pixels (part of the cache key)
    files : the files whose (path, size, mtime) key the cache, for ``decode_all`` sources
    decode_all : () -> (images uint8 [N,3,H,W], labels int64 [N]) or the same plus a dict with
        "mean" and "std" (for statistics taken elsewhere, e.g. from the train split)
    reader : per-row decoder, for image-file trees
    labels : int64 [N], with ``reader``
    info : extra provenance for ``dataset.source``
    """

    name: str
    split: str
    root: Path
    classes: list[str]
    mean: Stats | None
    std: Stats | None
    params: dict
    files: list[Path] = field(default_factory=list)
    decode_all: Callable[[], tuple] | None = None
    reader: FileImageReader | None = None
    labels: Tensor | None = None
    info: dict = field(default_factory=dict)
