"""Kernels with hand-written parameters, against naive per-image references."""

import torch
import torch.nn.functional as F

from dastat.augment import kernels


def _images(b=4, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8)


def test_flip_mirrors_only_the_marked_images():
    x = _images()
    flipped = torch.tensor([True, False, False, True])
    y = kernels.flip(x, flipped)
    for i in range(4):
        assert torch.equal(y[i], x[i].flip(-1) if flipped[i] else x[i])


def test_crop_flip_matches_pad_and_slice_per_image():
    x = _images(b=6)
    pad = 2
    top = torch.tensor([0, 4, 2, 1, 3, 0])
    left = torch.tensor([4, 0, 2, 3, 1, 0])
    flipped = torch.tensor([False, True, True, False, True, False])
    y = kernels.crop_flip(x, top, left, flipped, pad)
    padded = F.pad(x, (pad,) * 4)
    for i in range(6):
        want = padded[i, :, top[i] : top[i] + 8, left[i] : left[i] + 8]
        assert torch.equal(y[i], want.flip(-1) if flipped[i] else want)
    assert torch.equal(kernels.crop_flip(x, top, left, None, pad)[1], padded[1, :, 4:12, 0:8])


def test_erase_boxes_paints_the_half_open_box_with_fill():
    x = _images(b=2)
    y = kernels.erase_boxes(x, torch.tensor([0, 5]), torch.tensor([3, 8]), torch.tensor([2, 0]),
                            torch.tensor([4, 8]), (1, 2, 3))
    want = x.clone()
    want[0, :, 0:3, 2:4] = torch.tensor([1, 2, 3], dtype=torch.uint8)[:, None, None]
    want[1, :, 5:8, 0:8] = torch.tensor([1, 2, 3], dtype=torch.uint8)[:, None, None]
    assert torch.equal(y, want)


def test_paste_boxes_copies_from_the_partner():
    x = _images(b=3)
    partner = torch.tensor([2, 0, 1])
    y = kernels.paste_boxes(x, partner, torch.tensor([1, 0, 8]), torch.tensor([4, 8, 8]),
                            torch.tensor([0, 3, 0]), torch.tensor([8, 5, 8]))
    want = x.clone()
    want[0, :, 1:4, :] = x[2, :, 1:4, :]
    want[1, :, :, 3:5] = x[0, :, :, 3:5]
    assert torch.equal(y, want)


def test_blend_rounds_to_nearest():
    x = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    x[1] = 255
    y = kernels.blend(x, torch.tensor([1, 0]), torch.tensor([0.25, 0.5], dtype=torch.float64))
    assert torch.all(y[0] == round(0.75 * 255))  # 191.25 -> 191
    assert torch.all(y[1] == 128)  # 127.5 -> 128 (round half to even of 127.5 is 128)
