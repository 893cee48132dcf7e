"""The decoding cache: the second load does not decode; a changed source file invalidates it."""

from __future__ import annotations

import os

import pytest
import torch
from data_fakes import make_cifar100, make_imagefolder

import dastat.data as data
import dastat.data.cifar as cifar
import dastat.data.images as images


@pytest.fixture
def count_cifar_decodes(monkeypatch):
    calls = []
    real = cifar._decode

    def counting(*args, **kw):
        calls.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(cifar, "_decode", counting)
    return calls


def test_second_load_reads_the_cache(tmp_path, count_cifar_decodes):
    make_cifar100(tmp_path / "d")
    first = data.load("cifar100", root=tmp_path / "d", cache_dir=tmp_path / "c")
    second = data.load("cifar100", root=tmp_path / "d", cache_dir=tmp_path / "c")
    assert len(count_cifar_decodes) == 1
    assert first.source["cache_hit"] is False and second.source["cache_hit"] is True
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)
    assert os.path.dirname(second.source["cache"]) == str(tmp_path / "c")


def test_changed_file_invalidates(tmp_path, count_cifar_decodes):
    make_cifar100(tmp_path)
    data.load("cifar100", root=tmp_path)
    make_cifar100(tmp_path, seed=5)  # same sizes, new pixels and a new mtime
    train = tmp_path / "cifar-100-python" / "train"
    st = train.stat()
    os.utime(train, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = data.load("cifar100", root=tmp_path)
    assert len(count_cifar_decodes) == 2 and again.source["cache_hit"] is False


def test_cache_off_and_unwritable_cache(tmp_path, count_cifar_decodes):
    make_cifar100(tmp_path)
    data.load("cifar100", root=tmp_path, cache_dir=False)
    data.load("cifar100", root=tmp_path, cache_dir=False)
    assert len(count_cifar_decodes) == 2
    blocker = tmp_path / "afile"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="cannot write the decoding cache"):
        ds = data.load("cifar100", root=tmp_path, cache_dir=blocker / "sub")
    assert len(ds) == 40 and ds.source["cache"] is None


def test_damaged_cache_file_is_a_miss(tmp_path, count_cifar_decodes):
    make_cifar100(tmp_path)
    path = data.load("cifar100", root=tmp_path).source["cache"]
    with open(path, "wb") as f:
        f.write(b"garbage")
    with pytest.warns(UserWarning, match="unreadable cache file"):
        ds = data.load("cifar100", root=tmp_path)
    assert len(count_cifar_decodes) == 2 and len(ds) == 40


def test_image_tree_cache_counts_file_decodes(tmp_path, monkeypatch):
    make_imagefolder(tmp_path / "d", per_class=3)
    calls = []
    real = images.decode_image
    monkeypatch.setattr(images, "decode_image", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    a = data.load("imagefolder", root=tmp_path / "d", image_size=8, num_workers=0)
    assert len(calls) == 6
    b = data.load("imagefolder", root=tmp_path / "d", image_size=8, num_workers=0)
    assert len(calls) == 6 and torch.equal(a.images, b.images) and b.source["cache_hit"]
    data.load("imagefolder", root=tmp_path / "d", image_size=6, num_workers=0)  # new size: new key
    assert len(calls) == 12


def test_digits_is_cached_too(monkeypatch):
    import dastat.data.digits as digits

    calls = []
    real = digits._split
    monkeypatch.setattr(digits, "_split", lambda *a: calls.append(a) or real(*a))
    a = data.load("digits", split="test")
    b = data.load("digits", split="test")
    assert len(calls) == 1 and b.source["cache_hit"] and torch.equal(a.images, b.images)
    assert a.mean == b.mean == data.load("digits").mean  # the train split's statistics, from the cache too
