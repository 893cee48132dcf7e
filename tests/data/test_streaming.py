"""Past the memory budget: a streaming dataset yielding the same uint8 batches from disk."""

from __future__ import annotations

import pytest
import torch
from data_fakes import make_cifar100, make_imagefolder

import dastat.data as data
from dastat.data import ImageTensorDataset, StreamingImageDataset
from dastat.data.budget import parse_bytes, resolve_max_memory
from dastat.errors import DataError, InvalidArgumentError


def _same_batches(a, b, batch_size, seed, drop_last=False):
    ga, gb = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    xs = list(a.iter_batches(batch_size, ga, drop_last=drop_last))
    ys = list(b.iter_batches(batch_size, gb, drop_last=drop_last))
    assert len(xs) == len(ys) > 0
    for (xa, la), (xb, lb) in zip(xs, ys):
        assert xa.dtype == xb.dtype == torch.uint8
        assert torch.equal(xa, xb) and torch.equal(la, lb)
    return xs


@pytest.mark.parametrize("workers", [0, 2])
def test_image_tree_streams_the_same_batches(tmp_path, workers):
    make_imagefolder(tmp_path, classes=("a", "b", "c"), per_class=7)
    memory = data.load("imagefolder", root=tmp_path, image_size=8, num_workers=0)
    stream = data.load("imagefolder", root=tmp_path, image_size=8, max_memory=1000, num_workers=workers)
    assert isinstance(memory, ImageTensorDataset) and isinstance(stream, StreamingImageDataset)
    assert stream.source["streaming"] is True and len(stream) == 21 and stream.image_size == 8
    assert torch.equal(stream.labels, memory.labels) and stream.classes == memory.classes
    # Streaming mean/std come from a sample of up to 1024 images: here all 21, so they agree exactly.
    assert stream.mean == pytest.approx(memory.mean) and stream.std == pytest.approx(memory.std)
    batches = _same_batches(memory, stream, 5, seed=7)
    assert [len(x) for x, _ in batches] == [5, 5, 5, 5, 1]
    _same_batches(memory, stream, 4, seed=8, drop_last=True)


def test_streaming_subset_to_materialize_and_images_error(tmp_path):
    make_imagefolder(tmp_path, per_class=5)
    memory = data.load("imagefolder", root=tmp_path, image_size=8, num_workers=0)
    stream = data.load("imagefolder", root=tmp_path, image_size=8, max_memory="1K", num_workers=0)
    idx = torch.tensor([9, 0, 4])
    _same_batches(memory.subset(idx), stream.subset(idx), 2, seed=1)
    assert torch.equal(stream.materialize().images, memory.images)
    assert stream.to("cpu").device == torch.device("cpu")
    with pytest.raises(DataError, match=r"streaming dataset.*iter_batches.*max_images"):
        _ = stream.images


def test_cifar_streams_from_the_memory_mapped_cache(tmp_path):
    make_cifar100(tmp_path)
    memory = data.load("cifar100", root=tmp_path)
    stream = data.load("cifar100", root=tmp_path, max_memory=3072 * 10, num_workers=0)
    assert isinstance(stream, StreamingImageDataset) and stream.source["cache_hit"]
    _same_batches(memory, stream, 16, seed=0)
    sub_m = data.load("cifar100", root=tmp_path, max_images=12, seed=1)
    sub_s = data.load("cifar100", root=tmp_path, max_images=12, seed=1, max_memory=3072, num_workers=0)
    assert isinstance(sub_s, StreamingImageDataset)
    _same_batches(sub_m, sub_s, 5, seed=2)


def test_subsample_fits_the_budget_and_loads_in_memory(tmp_path):
    make_imagefolder(tmp_path, per_class=10)
    ds = data.load("imagefolder", root=tmp_path, image_size=8, max_images=4, max_memory=4 * 192, num_workers=0)
    assert isinstance(ds, ImageTensorDataset) and len(ds) == 4


def test_generated_data_over_budget_is_refused():
    with pytest.raises(DataError, match="max_memory"):
        data.load("synthetic", num_images=100, image_size=8, max_memory=1000)


def test_budget_parsing(monkeypatch):
    assert parse_bytes("4G") == 4 * 2**30 and parse_bytes("512MiB") == 512 * 2**20
    assert parse_bytes("1e3") == 1000 and parse_bytes(77) == 77 and parse_bytes("2 kb") == 2048
    for bad in ("lots", 0, True, "-1G"):
        with pytest.raises(InvalidArgumentError, match="max_memory"):
            parse_bytes(bad)
    assert resolve_max_memory(None) == 4 * 2**30
    monkeypatch.setenv("DASTAT_MAX_MEMORY", "1M")
    assert resolve_max_memory(None) == 2**20 and resolve_max_memory(5) == 5


def test_argument_checks():
    with pytest.raises(InvalidArgumentError, match="split"):
        data.load("digits", split="val")
    with pytest.raises(InvalidArgumentError, match="no option 'num_classes'"):
        data.load("digits", num_classes=3)
    with pytest.raises(InvalidArgumentError, match="max_images"):
        data.load("digits", max_images=0)


def test_worker_errors_reach_the_caller_as_data_errors(tmp_path):
    make_imagefolder(tmp_path, per_class=6)
    stream = data.load("imagefolder", root=tmp_path, image_size=8, max_memory=100, num_workers=2)
    bad = tmp_path / "dog" / "dog_4.png"
    bad.write_bytes(b"broken after listing")
    with pytest.raises(DataError) as info:
        for _ in stream.iter_batches(2):
            pass
    assert str(bad) in str(info.value) and "Traceback" not in str(info.value)


@pytest.mark.gpu
def test_streaming_to_cuda_matches_in_memory_on_cuda(tmp_path):
    make_imagefolder(tmp_path, per_class=5)
    memory = data.load("imagefolder", root=tmp_path, image_size=8, num_workers=0).to("cuda")
    stream = data.load("imagefolder", root=tmp_path, image_size=8, max_memory=100, num_workers=0).to("cuda")
    g1, g2 = torch.Generator("cuda").manual_seed(0), torch.Generator("cuda").manual_seed(0)
    for (xa, la), (xb, lb) in zip(memory.iter_batches(3, g1), stream.iter_batches(3, g2)):
        assert xb.device.type == "cuda" and torch.equal(xa, xb) and torch.equal(la, lb)
