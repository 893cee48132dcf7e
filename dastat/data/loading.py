"""``load(name, ...)``: the one entry point from a dataset name to uint8 tensors."""

from __future__ import annotations

import hashlib
import inspect
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor

from dastat.checks import check_choice, check_int
from dastat.data.budget import resolve_max_memory
from dastat.data.cache import DecodeCache, cache_key
from dastat.data.dataset import ImageTensorDataset
from dastat.data.normalisation import channel_stats
from dastat.data.registry import DATASETS
from dastat.data.source import FileSource
from dastat.data.streaming import StreamingImageDataset, default_workers, read_rows
from dastat.data.subsample import stratified_indices
from dastat.errors import DataError, InvalidArgumentError
from dastat.rng import stream

SPLITS = ("train", "test")
_DECODE_BATCH = 256
_STATS_SAMPLE = 1024  # images decoded to estimate mean/std of a streaming dataset


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered dataset names matching the fnmatch ``pattern``, naturally sorted."""
    return DATASETS.names(pattern)


def load(
    name: str,
    root: str | os.PathLike | None = None,
    split: str = "train",
    image_size: int | None = None,
    max_images: int | None = None,
    seed: int = 0,
    max_memory: int | str | None = None,
    cache_dir: str | os.PathLike | bool | None = None,
    num_workers: int | None = None,
    **options,
) -> ImageTensorDataset | StreamingImageDataset:
    """Load a dataset as uint8 images [N,3,H,W] and int64 labels [N].

    Parameters
    ----------
    name : str
        A registered dataset (:func:`list_datasets`): cifar100, cifar10, tinyimagenet,
        imagefolder, mnist, fashion_mnist, kmnist, digits, synthetic.
    root : path, optional
        The folder holding the data (see each dataset's layout); defaults to ``$DASTAT_DATA``.
        Ignored by digits and synthetic.
    split : {"train", "test"}
    image_size : int, optional
        Output side in pixels; None keeps the dataset's native size (imagefolder: 224).
    max_images : int, optional
        Keep a seeded, class-stratified subsample of this many images (recorded in ``.source``).
    seed : int
        Seed of the subsample (and of synthetic data).
    max_memory : int or str, optional
        Budget in bytes (``"4G"`` accepted) for the decoded images; past it a
        :class:`StreamingImageDataset` is returned. Default ``$DASTAT_MAX_MEMORY`` or 4 GiB.
    cache_dir : path or False, optional
        Decoding cache folder; default ``$DASTAT_CACHE`` or ``~/.cache/dastat``; False: no cache.
    num_workers : int, optional
        Decoding worker processes (default up to 4).
    **options
        Dataset-specific options, e.g. ``num_classes``, ``num_images``, ``learnable`` for synthetic.

    Returns
    -------
    ImageTensorDataset or StreamingImageDataset
        Both offer ``len()``, ``labels``, ``classes``, ``mean``/``std``, ``batches()``,
        ``iter_batches()``, ``subset()`` and ``to(device)``.
    """
    builder = DATASETS.get(name)
    split = check_choice(split, "split", SPLITS)
    if image_size is not None:
        image_size = check_int(image_size, "image_size", low=1)
    if max_images is not None:
        max_images = check_int(max_images, "max_images", low=1)
    seed = check_int(seed, "seed", low=0)
    budget = resolve_max_memory(max_memory)
    workers = default_workers() if num_workers is None else check_int(num_workers, "num_workers", low=0)
    _check_options(name, builder, options)
    if root is None and os.environ.get("DASTAT_DATA"):
        root = os.environ["DASTAT_DATA"]
    root_path = None if root is None else Path(root).expanduser()

    built = builder(root=root_path, split=split, image_size=image_size, seed=seed, **options)
    if isinstance(built, ImageTensorDataset):
        return _in_memory(built, max_images, seed, budget)
    cache = DecodeCache(cache_dir)
    if built.reader is None:
        return _whole_file(built, cache, max_images, seed, budget, workers)
    return _image_files(built, cache, max_images, seed, budget, workers)


def _check_options(name: str, builder, options: dict) -> None:
    params = inspect.signature(builder).parameters
    allowed = [p for p in params if p not in ("root", "split", "image_size", "seed")]
    for key in options:
        if key not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise InvalidArgumentError(f"dataset {name!r} has no option {key!r}; its options are: {known}.")


def _subsample_info(max_images: int | None, seed: int, n_total: int, n_kept: int) -> dict:
    if max_images is None:
        return {"n_total": n_total}
    return {
        "n_total": n_total,
        "max_images": max_images,
        "subsample_seed": seed,
        "n_kept": n_kept,
        "subsample": "class-stratified",
    }


def _in_memory(ds: ImageTensorDataset, max_images: int | None, seed: int, budget: int) -> ImageTensorDataset:
    n_total = len(ds)
    if max_images is not None:
        ds = ds.subset(stratified_indices(ds.labels, max_images, seed))
    if ds.images.numel() > budget:
        raise DataError(
            f"{ds.name} ({ds.split}) holds {ds.images.numel() / 2**30:.2f} GiB of pixels, over the memory "
            f"budget of {budget / 2**30:.2f} GiB, and this generated dataset cannot stream from disk; "
            "ask for fewer images or raise max_memory= / $DASTAT_MAX_MEMORY."
        )
    ds.source = {**ds.source, **_subsample_info(max_images, seed, n_total, len(ds)), "streaming": False}
    return ds


def _check_labels(labels: Tensor, classes: list[str], where: Path | str) -> None:
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
        raise DataError(
            f"labels in {where} run from {int(labels.min())} to {int(labels.max())}, but there are "
            f"{len(classes)} classes, so they must lie in [0, {len(classes) - 1}]; the data files do not "
            "match each other (mixed datasets?). Re-extract the original archive."
        )


def _whole_file(src: FileSource, cache: DecodeCache, max_images, seed, budget, workers):
    key = cache_key(src.name, src.split, src.params, src.files)
    path = cache.path(src.name, src.split, key)
    payload = cache.load(path)
    hit = payload is not None
    if not hit:
        # decode_all may add {"mean", "std"} when they come from elsewhere (digits: the train split)
        images, labels, *stats = src.decode_all()
        payload = {"images": images, "labels": labels, **(stats[0] if stats else {})}
        stored = cache.save(path, payload)
    else:
        images, labels = payload["images"], payload["labels"]
        stored = True
    _check_labels(labels, src.classes, src.root)
    rows = None if max_images is None else stratified_indices(labels, max_images, seed)
    if src.mean is not None:
        mean, std = src.mean, src.std
    elif "mean" in payload:
        mean, std = tuple(payload["mean"]), tuple(payload["std"])
    else:
        mean, std = channel_stats(images)
    n = len(labels) if rows is None else len(rows)
    h, w = images.shape[-2:]
    source = {
        "root": str(src.root),
        **src.info,
        "cache": str(path) if stored else None,
        "cache_hit": hit,
        **_subsample_info(max_images, seed, len(labels), n),
    }
    common = dict(classes=list(src.classes), mean=mean, std=std, name=src.name, split=src.split)
    if n * 3 * h * w > budget:
        if stored:
            from dastat.data.tensorfile import TensorFileReader

            reader = TensorFileReader(path, (h, w), len(labels))
            keep = torch.arange(len(labels)) if rows is None else rows
            return StreamingImageDataset(
                reader=reader,
                rows=keep,
                labels=labels[keep].clone(),
                source={**source, "streaming": True},
                num_workers=workers,
                **common,
            )
        warnings.warn(
            f"{src.name} is over the memory budget but cannot stream without a writable decoding cache; "
            "keeping it in memory. Set cache_dir= / $DASTAT_CACHE to a writable folder.",
            stacklevel=3,
        )
    if rows is not None:
        images, labels = images[rows], labels[rows]
    return ImageTensorDataset(
        images=images.contiguous(), labels=labels.contiguous(), source={**source, "streaming": False}, **common
    )


def _labels_digest(labels: Tensor) -> str:
    return hashlib.sha256(labels.numpy().tobytes()).hexdigest()


def _decode_rows(reader, rows: Tensor, workers: int) -> Tensor:
    h, w = reader.image_hw
    images = torch.empty(len(rows), 3, h, w, dtype=torch.uint8)
    batches = [rows[i : i + _DECODE_BATCH].tolist() for i in range(0, len(rows), _DECODE_BATCH)]
    # Worker processes cost a second or so to start: only worth it for many batches.
    use = workers if len(batches) >= 4 else 0
    start = 0
    for batch in read_rows(reader, batches, use):
        images[start : start + len(batch)] = batch
        start += len(batch)
    return images


def _image_files(src: FileSource, cache: DecodeCache, max_images, seed, budget, workers):
    labels_all, reader = src.labels, src.reader
    _check_labels(labels_all, src.classes, src.root)
    n_total = len(labels_all)
    rows = torch.arange(n_total) if max_images is None else stratified_indices(labels_all, max_images, seed)
    labels = labels_all[rows].clone()
    files = [reader.paths[r] for r in rows.tolist()]
    h, w = reader.image_hw
    common = dict(classes=list(src.classes), name=src.name, split=src.split)
    source = {"root": str(src.root), **src.info, **_subsample_info(max_images, seed, n_total, len(rows))}

    if len(rows) * 3 * h * w > budget:
        mean, std = src.mean, src.std
        if mean is None:
            mean, std = _sampled_stats(src, cache, rows, seed, workers)
        return StreamingImageDataset(
            reader=reader,
            rows=rows,
            labels=labels,
            mean=mean,
            std=std,
            source={**source, "streaming": True, "cache": None},
            num_workers=workers,
            **common,
        )

    key = cache_key(src.name, src.split, src.params, files, extra=_labels_digest(labels))
    path = cache.path(src.name, src.split, key)
    payload = cache.load(path)
    hit = payload is not None
    if hit:
        images = payload["images"]
        stored = True
    else:
        images = _decode_rows(reader, rows, workers)
        stored = cache.save(path, {"images": images, "labels": labels})
    mean, std = (src.mean, src.std) if src.mean is not None else channel_stats(images)
    return ImageTensorDataset(
        images=images,
        labels=labels,
        mean=mean,
        std=std,
        source={**source, "cache": str(path) if stored else None, "cache_hit": hit, "streaming": False},
        **common,
    )


def _sampled_stats(src: FileSource, cache: DecodeCache, rows: Tensor, seed: int, workers: int):
    """Mean/std of a streaming dataset, estimated from a seeded sample of its images (cached)."""
    pick = rows[torch.randperm(len(rows), generator=stream(seed, "stats"))[:_STATS_SAMPLE]].sort().values
    files = [src.reader.paths[r] for r in pick.tolist()]
    key = cache_key(src.name, src.split, {**src.params, "stats": True}, files)
    path = cache.path(src.name, f"{src.split}-stats", key)
    payload = cache.load(path)
    if payload is None:
        payload = {"mean": channel_stats(_decode_rows(src.reader, pick, workers))}
        payload["std"] = payload["mean"][1]
        payload["mean"] = payload["mean"][0]
        cache.save(path, payload)
    return tuple(payload["mean"]), tuple(payload["std"])
