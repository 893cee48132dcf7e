"""RandAugment: ops uniform over torchvision's space, each image equal to torchvision's kernels at bin m."""

import numpy as np
import pytest
import torch
from scipy import stats
from torchvision.transforms import v2

import dastat.augment as A
from dastat.errors import InvalidArgumentError

ALPHA = 1e-3


def _images(b, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, size, size), generator=g, dtype=torch.uint8)


def test_ops_are_uniform_over_torchvisions_space_and_signs_fair():
    scheme = A.get("randaugment(n=3)")
    p = scheme.sample(_images(4000, 4), torch.Generator().manual_seed(0))
    assert p.ops.shape == p.negative.shape == (4000, 3)
    assert scheme.op_names == list(v2.RandAugment._AUGMENTATION_SPACE)
    counts = np.bincount(p.ops.flatten().numpy(), minlength=len(scheme.op_names))
    assert stats.chisquare(counts).pvalue > ALPHA
    assert stats.binomtest(int(p.negative.sum()), p.negative.numel(), 0.5).pvalue > ALPHA


@pytest.mark.parametrize(("size", "m", "fill"), [(32, 9, None), (16, 20, (120, 110, 100))])
def test_each_image_equals_torchvisions_ops_in_turn(size, m, fill):
    scheme = A.get(f"randaugment(m={m},n=2)", image_size=size, fill=fill)
    reference = v2.RandAugment(num_ops=2, magnitude=m, fill=fill)
    x = _images(80, size)
    y, p = scheme(x, generator=torch.Generator().manual_seed(3), return_params=True)
    for i in range(len(x)):
        want = x[i]
        for slot in range(2):
            op = scheme.op_names[int(p.ops[i, slot])]
            magnitudes_fn, signed = reference._AUGMENTATION_SPACE[op]
            magnitudes = magnitudes_fn(reference.num_magnitude_bins, size, size)
            magnitude = 0.0 if magnitudes is None else float(magnitudes[m])
            if signed and p.negative[i, slot]:
                magnitude = -magnitude
            want = reference._apply_image_or_video_transform(
                want, op, magnitude, interpolation=reference.interpolation, fill=reference._fill
            )
        assert torch.equal(y[i], want), f"image {i}, ops {p.ops[i].tolist()}"


def test_batch_mode_draws_one_set_of_ops_and_sample_mode_one_per_image():
    x = _images(64, 16)
    batch = A.get("randaugment", randomness="batch").sample(x, torch.Generator().manual_seed(0))
    assert torch.all(batch.ops == batch.ops[0]) and torch.all(batch.negative == batch.negative[0])
    per_image = A.get("randaugment").sample(x, torch.Generator().manual_seed(0))
    assert len({tuple(r) for r in per_image.ops.tolist()}) > 32


def test_settings_are_checked():
    with pytest.raises(InvalidArgumentError, match=r"m must be in \[0, 30\]"):
        A.get("randaugment(m=31)")
    with pytest.raises(InvalidArgumentError, match="n must be >= 1"):
        A.get("randaugment(n=0)")
