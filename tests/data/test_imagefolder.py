"""ImageFolder trees: class order, resize + centre crop, split folders, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_fakes import make_imagefolder, save_image

import dastat.data as data
from dastat.errors import DataError, InvalidArgumentError


def test_classes_labels_and_exact_centre_crop(tmp_path):
    fake = make_imagefolder(tmp_path, classes=("dog", "cat"), size=(12, 16))
    ds = data.load("imagefolder", root=tmp_path, image_size=12, num_workers=0)
    assert ds.classes == ["cat", "dog"] and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    # Shorter side already 12: no resampling, the centre 12 of 16 columns (2..13) are kept.
    assert np.array_equal(ds.images[0].permute(1, 2, 0).numpy(), fake[("cat", 0)][:, 2:14])
    assert np.array_equal(ds.images[4].permute(1, 2, 0).numpy(), fake[("dog", 1)][:, 2:14])
    x = ds.images.double() / 255
    assert ds.mean == pytest.approx(tuple(x.mean(dim=(0, 2, 3)).tolist()))
    assert ds.source["normalisation"] == "data"


def test_default_size_224_and_imagenet_normalisation(tmp_path):
    make_imagefolder(tmp_path, per_class=1, size=(20, 30))
    ds = data.load("imagefolder", root=tmp_path, normalisation="imagenet", num_workers=0)
    assert ds.images.shape == (2, 3, 224, 224)
    assert ds.mean == (0.485, 0.456, 0.406)
    with pytest.raises(InvalidArgumentError, match="normalisation"):
        data.load("imagefolder", root=tmp_path, normalisation="cifar")


def test_split_folders_and_val_fallback(tmp_path):
    make_imagefolder(tmp_path / "train", per_class=2)
    make_imagefolder(tmp_path / "val", per_class=1, seed=1)
    assert len(data.load("imagefolder", root=tmp_path, image_size=8, num_workers=0)) == 4
    assert len(data.load("imagefolder", root=tmp_path, split="test", image_size=8, num_workers=0)) == 2


def _message(**kw) -> str:
    with pytest.raises(DataError) as info:
        data.load("imagefolder", image_size=8, num_workers=0, **kw)
    return str(info.value)


def test_missing_test_split(tmp_path):
    make_imagefolder(tmp_path / "train", per_class=1)
    msg = _message(root=tmp_path, split="test")
    assert str(tmp_path / "test") in msg and "<class>/<image>" in msg


def test_empty_class_folder(tmp_path):
    make_imagefolder(tmp_path, per_class=1)
    (tmp_path / "zebra").mkdir()
    (tmp_path / "zebra" / "notes.txt").write_text("no images here")
    msg = _message(root=tmp_path)
    assert str(tmp_path / "zebra") in msg and "no images" in msg


def test_root_one_level_too_deep_and_too_shallow(tmp_path):
    make_imagefolder(tmp_path / "pets", per_class=1)
    msg = _message(root=tmp_path / "pets" / "cat")
    assert "one level too deep" in msg and str(tmp_path / "pets") in msg
    msg = _message(root=tmp_path)
    assert "one level too shallow" in msg and str(tmp_path / "pets") in msg


def test_unreadable_image_and_missing_root(tmp_path):
    make_imagefolder(tmp_path, per_class=1)
    bad = tmp_path / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    msg = _message(root=tmp_path)
    assert str(bad) in msg and "cannot read image" in msg
    assert "does not exist" in _message(root=tmp_path / "absent")


def test_jpeg_grey_and_rgba_become_rgb(tmp_path):
    save_image(tmp_path / "a" / "x.jpg", np.full((10, 10, 3), 200, np.uint8))
    from PIL import Image

    (tmp_path / "b").mkdir()
    Image.fromarray(np.full((10, 10), 50, np.uint8)).save(tmp_path / "b" / "grey.png")
    Image.fromarray(np.full((10, 10, 4), 90, np.uint8)).save(tmp_path / "b" / "rgba.png")
    ds = data.load("imagefolder", root=tmp_path, image_size=10, num_workers=0)
    assert ds.images.shape == (3, 3, 10, 10)
    assert torch.all(ds.images[1] == 50) and torch.all(ds.images[2] == 90)
