"""MNIST-format datasets: tiny IDX files in the exact on-disk format, every layout and every bad file."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dastat.data as data
from dastat.data.normalisation import channel_stats
from dastat.errors import DataError

SIZES = {"train": 12, "test": 7}
STEMS = {"train": "train", "test": "t10k"}


def _idx(magic: int, array: np.ndarray) -> bytes:
    # The IDX layout: magic, each dimension as a big-endian uint32, then the values row-major.
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def _write(path: Path, payload: bytes, gz: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def make_idx(folder: Path, *, gz: bool = True, seed: int = 0) -> dict:
    """The four IDX files of a 10-class dataset in ``folder``; returns the images [N,28,28] and labels."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, n in SIZES.items():
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        _write(folder / f"{STEMS[split]}-images-idx3-ubyte", _idx(0x00000803, images), gz)
        _write(folder / f"{STEMS[split]}-labels-idx1-ubyte", _idx(0x00000801, labels), gz)
        written[split] = (images, labels)
    return written


def _message(fn) -> str:
    with pytest.raises(DataError) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_pixels_are_padded_by_2_px_and_copied_to_three_channels(tmp_path, gz):
    written = make_idx(tmp_path, gz=gz)
    for split in ("train", "test"):
        ds = data.load("mnist", root=tmp_path, split=split)
        grey, labels = written[split]
        assert ds.images.shape == (SIZES[split], 3, 32, 32) and ds.images.dtype == torch.uint8
        inner = ds.images[:, :, 2:30, 2:30]
        for c in range(3):
            assert np.array_equal(inner[:, c].numpy(), grey)
        border = ds.images.clone()
        border[:, :, 2:30, 2:30] = 0
        assert not border.any()
        assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == labels.tolist()
        assert ds.classes == [str(d) for d in range(10)] and ds.name == "mnist" and ds.split == split


def test_both_splits_are_normalised_with_the_training_splits_statistics(tmp_path):
    make_idx(tmp_path)
    train = data.load("mnist", root=tmp_path)
    test = data.load("mnist", root=tmp_path, split="test")
    expected = channel_stats(train.images)
    assert train.mean == pytest.approx(expected[0], abs=1e-12) and train.std == pytest.approx(expected[1], abs=1e-12)
    assert test.mean == train.mean and test.std == train.std
    assert channel_stats(test.images)[0] != test.mean  # really the train split's, not the test split's own


@pytest.mark.parametrize(("name", "sub"), [
    ("mnist", "MNIST/raw"), ("mnist", "mnist"), ("fashion_mnist", "FashionMNIST/raw"),
    ("fashion_mnist", "fashion_mnist"), ("fashion_mnist", "fashion-mnist"), ("kmnist", "KMNIST/raw"),
    ("kmnist", "kmnist"),
])
def test_each_dataset_reads_its_usual_folders(tmp_path, name, sub):
    written = make_idx(tmp_path / sub)
    ds = data.load(name, root=tmp_path, split="test")
    assert ds.labels.tolist() == written["test"][1].tolist()
    assert ds.source["folder"] == str(tmp_path / sub)


def test_the_datasets_own_folder_wins_over_files_in_root(tmp_path):
    make_idx(tmp_path, seed=1)
    fashion = make_idx(tmp_path / "FashionMNIST" / "raw", seed=2)
    ds = data.load("fashion_mnist", root=tmp_path)
    assert np.array_equal(ds.images[:, 0, 2:30, 2:30].numpy(), fashion["train"][0])
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert data.load("kmnist", root=tmp_path).classes == ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


def test_plain_and_gzipped_files_may_be_mixed(tmp_path):
    written = make_idx(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    _write(tmp_path / "t10k-labels-idx1-ubyte", _idx(0x00000801, written["test"][1]), gz=True)
    assert data.load("mnist", root=tmp_path, split="test").labels.tolist() == written["test"][1].tolist()


def test_decoded_once_then_read_from_the_cache(tmp_path):
    make_idx(tmp_path)
    first = data.load("mnist", root=tmp_path)
    second = data.load("mnist", root=tmp_path)
    assert not first.source["cache_hit"] and second.source["cache_hit"]
    assert torch.equal(first.images, second.images) and second.mean == first.mean


def test_image_size_resizes_the_padded_image_as_pil_does(tmp_path):
    written = make_idx(tmp_path)
    ds = data.load("mnist", root=tmp_path, image_size=16)
    assert ds.images.shape == (SIZES["train"], 3, 16, 16)
    # The reference: PIL's bilinear resize of the zero-padded 32 px image (the image folders' resizer).
    for grey, got in zip(written["train"][0], ds.images):
        padded = Image.fromarray(np.pad(grey, 2))
        expected = np.asarray(padded.resize((16, 16), Image.Resampling.BILINEAR), dtype=np.int16)
        assert np.abs(got[0].numpy().astype(np.int16) - expected).max() <= 1  # rounding of the two
        assert torch.equal(got[0], got[1]) and torch.equal(got[0], got[2])


def test_max_images_takes_a_class_stratified_subsample(tmp_path):
    make_idx(tmp_path)
    ds = data.load("mnist", root=tmp_path, max_images=10)
    assert sorted(ds.labels.tolist()) == list(range(10))


def test_dataset_list_and_cli_data_option_see_the_idx_datasets():
    assert {"mnist", "fashion_mnist", "kmnist"} <= set(data.list_datasets())


# --- bad input -------------------------------------------------------------------------------------------


def test_missing_root_and_missing_files_name_the_folders(tmp_path):
    msg = _message(lambda: data.load("mnist", root=tmp_path))
    assert "train-images-idx3-ubyte" in msg and str(tmp_path / "MNIST" / "raw") in msg
    assert 'docs/method.md, "Data on disk"' in msg
    msg = _message(lambda: data.load("kmnist"))
    assert "root=" in msg and "KMNIST/raw/" in msg


def test_files_one_level_below_root_are_pointed_at(tmp_path):
    make_idx(tmp_path / "datasets" / "MNIST" / "raw")
    msg = _message(lambda: data.load("mnist", root=tmp_path))
    assert "one level below" in msg and f"pass {tmp_path / 'datasets'} as root" in msg


def test_torchvisions_folder_as_root_is_one_level_too_deep(tmp_path):
    make_idx(tmp_path / "KMNIST" / "raw")
    msg = _message(lambda: data.load("kmnist", root=tmp_path / "KMNIST"))
    assert "one level too deep" in msg and f"pass its parent {tmp_path} as root" in msg


def test_a_missing_file_of_the_four_is_named(tmp_path):
    make_idx(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    msg = _message(lambda: data.load("mnist", root=tmp_path, split="test"))
    assert "t10k-labels-idx1-ubyte" in msg and "Add the missing file" in msg


def test_wrong_magic_number_names_the_file_and_what_it_holds(tmp_path):
    written = make_idx(tmp_path, gz=False)
    # A labels file under the images' name.
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(0x00000801, written["train"][1]))
    msg = _message(lambda: data.load("mnist", root=tmp_path))
    assert str(tmp_path / "train-images-idx3-ubyte") in msg and "0x00000803" in msg and "IDX labels file" in msg
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    msg = _message(lambda: data.load("mnist", root=tmp_path))
    assert "0x89504E47" in msg and "not an IDX file" in msg


@pytest.mark.parametrize("cut", [2, 10, -5])
def test_truncated_files_are_refused(tmp_path, cut):
    make_idx(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    raw = path.read_bytes()
    path.write_bytes(raw[:cut])
    msg = _message(lambda: data.load("mnist", root=tmp_path, split="test"))
    assert str(path) in msg and "truncated" in msg and "Download it again" in msg


def test_truncated_gzip_is_refused(tmp_path):
    make_idx(tmp_path, gz=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    msg = _message(lambda: data.load("mnist", root=tmp_path))
    assert str(path) in msg and "truncated or corrupt" in msg


def test_extra_bytes_are_refused(tmp_path):
    make_idx(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00")
    msg = _message(lambda: data.load("mnist", root=tmp_path))
    assert "longer than its header says" in msg and "12 = 12" in msg


def test_counts_that_disagree_name_both_files(tmp_path):
    make_idx(tmp_path, gz=False)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx(0x00000801, np.zeros(11, np.uint8)), gz=False)
    msg = _message(lambda: data.load("mnist", root=tmp_path))
    assert "11 labels" in msg and "12 images" in msg and "train-images-idx3-ubyte" in msg


def test_images_that_are_not_28x28_are_refused(tmp_path):
    make_idx(tmp_path, gz=False)
    _write(tmp_path / "train-images-idx3-ubyte", _idx(0x00000803, np.zeros((12, 32, 32), np.uint8)), gz=False)
    msg = _message(lambda: data.load("mnist", root=tmp_path))
    assert "32x32 images" in msg and "28x28" in msg


def test_labels_out_of_range_are_refused(tmp_path):
    make_idx(tmp_path, gz=False)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx(0x00000801, np.full(12, 10, np.uint8)), gz=False)
    msg = _message(lambda: data.load("mnist", root=tmp_path))
    assert "label 10" in msg and "10 classes" in msg


def test_mnists_own_files_are_not_taken_for_another_dataset(tmp_path):
    # The three datasets share file names and sizes; MNIST's class counts tell its files apart.
    counts = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)  # MNIST's test split
    make_idx(tmp_path, gz=False)
    labels = np.repeat(np.arange(10, dtype=np.uint8), counts)
    _write(tmp_path / "t10k-labels-idx1-ubyte", _idx(0x00000801, labels), gz=False)
    _write(tmp_path / "t10k-images-idx3-ubyte", _idx(0x00000803, np.zeros((len(labels), 28, 28), np.uint8)), gz=False)
    assert torch.bincount(data.load("mnist", root=tmp_path, split="test").labels).tolist() == list(counts)
    msg = _message(lambda: data.load("kmnist", root=tmp_path, split="test"))
    assert "holds MNIST's labels" in msg and "KMNIST/raw or kmnist" in msg
