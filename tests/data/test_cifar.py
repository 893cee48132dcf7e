"""CIFAR-100 / CIFAR-10 python pickles: exact pixels, labels, names, and every bad input."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from data_fakes import make_cifar10, make_cifar100, write_pickle

import dastat.data as data
from dastat.errors import DataError, UnknownNameError


@pytest.mark.parametrize("style", ["py2", "bytes", "str"])
def test_cifar100_pixels_labels_names_round_trip(tmp_path, style):
    written = make_cifar100(tmp_path, style=style)
    for split in ("train", "test"):
        ds = data.load("cifar100", root=tmp_path, split=split)
        arr, fine = written[split]
        assert ds.images.shape == (len(arr), 3, 32, 32) and ds.images.dtype == torch.uint8
        # Row layout: 1024 red, then 1024 green, then 1024 blue values, each plane row-major.
        for i in (0, len(arr) - 1):
            for c in range(3):
                plane = arr[i, c * 1024 : (c + 1) * 1024].reshape(32, 32)
                assert np.array_equal(ds.images[i, c].numpy(), plane)
        assert ds.images[0, 1, 2, 3].item() == arr[0, 1024 + 2 * 32 + 3]
        assert ds.labels.tolist() == fine
        assert ds.classes == written["names"] and ds.num_classes == 100
        assert ds.mean == (0.5071, 0.4867, 0.4408) and ds.std == (0.2675, 0.2565, 0.2761)
        assert ds.name == "cifar100" and ds.split == split


def test_cifar10_reads_five_batches_in_order(tmp_path):
    written = make_cifar10(tmp_path)
    train = data.load("cifar10", root=tmp_path)
    data_all = np.concatenate([d for d, _ in written["train"]])
    assert torch.equal(train.images, torch.from_numpy(data_all.reshape(-1, 3, 32, 32)))
    assert train.labels.tolist() == [v for _, lab in written["train"] for v in lab]
    test = data.load("cifar10", root=tmp_path, split="test")
    assert test.labels.tolist() == written["test"][1]
    assert train.classes[0] == "airplane" and train.num_classes == 10
    assert train.mean == (0.4914, 0.4822, 0.4465) and train.std == (0.2470, 0.2435, 0.2616)


def test_root_from_environment(tmp_path, monkeypatch):
    make_cifar100(tmp_path)
    monkeypatch.setenv("DASTAT_DATA", str(tmp_path))
    assert len(data.load("cifar100", split="test")) == 20


def _message(fn) -> str:
    with pytest.raises(DataError) as info:
        fn()
    return str(info.value)


def test_missing_root(tmp_path):
    msg = _message(lambda: data.load("cifar100", root=tmp_path / "nowhere"))
    assert "nowhere" in msg and "does not exist" in msg and "cifar-100-python" in msg
    msg = _message(lambda: data.load("cifar100"))
    assert "root=" in msg and "DASTAT_DATA" in msg


def test_root_one_level_too_deep(tmp_path):
    make_cifar100(tmp_path)
    msg = _message(lambda: data.load("cifar100", root=tmp_path / "cifar-100-python"))
    assert "one level too deep" in msg and str(tmp_path) in msg


def test_root_one_level_too_shallow(tmp_path):
    make_cifar100(tmp_path / "datasets")
    msg = _message(lambda: data.load("cifar100", root=tmp_path))
    assert "one level below" in msg and f"pass {tmp_path / 'datasets'} as root" in msg


def test_unextracted_archive(tmp_path):
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(b"\x1f\x8b")
    msg = _message(lambda: data.load("cifar100", root=tmp_path))
    assert "cifar-100-python.tar.gz" in msg and "extract" in msg


def test_missing_split_file(tmp_path):
    make_cifar100(tmp_path)
    os.remove(tmp_path / "cifar-100-python" / "test")
    msg = _message(lambda: data.load("cifar100", root=tmp_path, split="test"))
    assert str(tmp_path / "cifar-100-python" / "test") in msg and "missing" in msg


def test_truncated_pickle(tmp_path):
    make_cifar100(tmp_path)
    path = tmp_path / "cifar-100-python" / "train"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    msg = _message(lambda: data.load("cifar100", root=tmp_path))
    assert str(path) in msg and "truncated or corrupt" in msg


def test_pickle_that_would_run_code_is_refused(tmp_path):
    make_cifar100(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(tmp_path / "cifar-100-python" / "train", "wb") as f:
        pickle.dump({"data": Evil(), "fine_labels": []}, f, protocol=2)
    msg = _message(lambda: data.load("cifar100", root=tmp_path))
    assert "refusing" in msg and "system" in msg
    assert not marker.exists()


def test_wrong_keys_and_shapes(tmp_path):
    make_cifar100(tmp_path)
    base = tmp_path / "cifar-100-python"
    write_pickle(base / "train", {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]})
    msg = _message(lambda: data.load("cifar100", root=tmp_path))
    assert "'fine_labels'" in msg and str(base / "train") in msg and "CIFAR-10 vs CIFAR-100" in msg
    write_pickle(base / "train", {"data": np.zeros((2, 1024), np.uint8), "fine_labels": [0, 1]})
    msg = _message(lambda: data.load("cifar100", root=tmp_path))
    assert "uint8 [N, 3072]" in msg


def test_labels_out_of_range(tmp_path):
    make_cifar100(tmp_path)
    base = tmp_path / "cifar-100-python"
    write_pickle(base / "train", {"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 100]})
    msg = _message(lambda: data.load("cifar100", root=tmp_path))
    assert "[0, 99]" in msg and str(base / "train") in msg


def test_resize_refused(tmp_path):
    make_cifar100(tmp_path)
    assert "32x32" in _message(lambda: data.load("cifar100", root=tmp_path, image_size=64))


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="cifar100"):
        data.load("cifar-100")
