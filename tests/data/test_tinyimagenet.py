"""Tiny ImageNet's folder layout: sorted-wnid labels, val annotations, and bad inputs."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from data_fakes import make_tinyimagenet, save_image
from PIL import Image

import dastat.data as data
from dastat.errors import DataError


def _pil(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_train_labels_follow_sorted_wnids_and_pixels_match_pil(tmp_path):
    fake = make_tinyimagenet(tmp_path)
    ds = data.load("tinyimagenet", root=tmp_path, num_workers=0)
    assert ds.classes == ["n01", "n02", "n03"]  # wnids.txt says n02, n01, n03: ImageFolder sorts
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.images.shape == (9, 3, 64, 64) and ds.image_size == 64
    first = fake["base"] / "train" / "n01" / "images" / "n01_0.JPEG"
    assert np.array_equal(ds.images[0].permute(1, 2, 0).numpy(), _pil(first))
    assert ds.mean == (0.485, 0.456, 0.406) and ds.std == (0.229, 0.224, 0.225)
    assert ds.source["class_words"][0] == "thing n01, other name"


def test_test_split_is_val_with_annotation_labels(tmp_path):
    fake = make_tinyimagenet(tmp_path)
    ds = data.load("tinyimagenet", root=tmp_path, split="test", num_workers=0)
    index = {w: i for i, w in enumerate(sorted(fake["wnids"]))}
    assert ds.labels.tolist() == [index[w] for _, w in fake["val"]]
    name = fake["val"][3][0]
    assert np.array_equal(ds.images[3].permute(1, 2, 0).numpy(), _pil(fake["base"] / "val" / "images" / name))


def test_resize_to_32(tmp_path):
    make_tinyimagenet(tmp_path, per_class=1, val_per_class=1)
    ds = data.load("tinyimagenet", root=tmp_path, image_size=32, num_workers=0)
    assert ds.images.shape == (3, 3, 32, 32)


def _message(**kw) -> str:
    with pytest.raises(DataError) as info:
        data.load("tinyimagenet", num_workers=0, **kw)
    return str(info.value)


def test_mixed_image_sizes(tmp_path):
    fake = make_tinyimagenet(tmp_path, per_class=1, val_per_class=1)
    odd = fake["base"] / "train" / "n02" / "images" / "n02_0.JPEG"
    save_image(odd, np.zeros((64, 48, 3), np.uint8))
    msg = _message(root=tmp_path)
    assert str(odd) in msg and "64x48" in msg and "64x64" in msg


def test_empty_class_folder(tmp_path):
    fake = make_tinyimagenet(tmp_path, per_class=1, val_per_class=1)
    folder = fake["base"] / "train" / "n03" / "images"
    for p in folder.iterdir():
        p.unlink()
    msg = _message(root=tmp_path)
    assert str(folder) in msg and "empty" in msg


def test_unreadable_image(tmp_path):
    fake = make_tinyimagenet(tmp_path, per_class=1, val_per_class=1)
    bad = fake["base"] / "val" / "images" / "val_1.JPEG"
    bad.write_bytes(b"not a jpeg at all")
    msg = _message(root=tmp_path, split="test")
    assert str(bad) in msg and "cannot read image" in msg


def test_annotation_problems(tmp_path):
    fake = make_tinyimagenet(tmp_path, per_class=1, val_per_class=1)
    ann = fake["base"] / "val" / "val_annotations.txt"
    lines = ann.read_text().splitlines(keepends=True)
    ann.write_text(lines[0] + "val_1.JPEG\tn77\t0\t0\t1\t1\n")
    msg = _message(root=tmp_path, split="test")
    assert str(ann) in msg and "line 2" in msg and "'n77'" in msg and "out of range" in msg
    ann.write_text(lines[0] + "val_missing.JPEG\tn01\t0\t0\t1\t1\n")
    assert "val_missing.JPEG" in _message(root=tmp_path, split="test")
    os.remove(ann)
    msg = _message(root=tmp_path, split="test")
    assert "val_annotations.txt" in msg and "tab-separated" in msg


def test_missing_class_folder_and_layout(tmp_path):
    fake = make_tinyimagenet(tmp_path, per_class=1, val_per_class=1)
    msg = _message(root=fake["base"])
    assert "one level too deep" in msg and str(tmp_path) in msg
    (fake["base"] / "wnids.txt").write_text("n01\nn02\nn03\nn04\n")
    msg = _message(root=tmp_path)
    assert str(fake["base"] / "train" / "n04" / "images") in msg


def test_labels_are_int64_and_classes_200_shape_free(tmp_path):
    make_tinyimagenet(tmp_path, wnids=("n5", "n4"), per_class=1, val_per_class=1)
    ds = data.load("tinyimagenet", root=tmp_path, split="test", num_workers=0)
    assert ds.labels.dtype == torch.int64 and ds.num_classes == 2
