"""AutoAugment: every sub-policy reachable; ops equal torchvision's own, image by image."""

import numpy as np
import pytest
import torch
from scipy import stats
from torchvision.transforms import v2

import dastat.augment as A
from dastat.augment.autoaugment import POLICIES

ALPHA = 1e-3


def _images(b, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, size, size), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize(("size", "policy"), [(32, "cifar10"), (64, "imagenet")])
def test_policy_follows_image_size_and_every_sub_policy_is_reached_uniformly(size, policy):
    scheme = A.get("autoaugment", image_size=size)
    assert scheme.policy == policy
    p = scheme.sample(_images(2000, 4), torch.Generator().manual_seed(0))
    counts = np.bincount(p.sub_policy.numpy(), minlength=25)
    assert len(counts) == 25 and counts.min() > 0
    assert stats.chisquare(counts).pvalue > ALPHA
    # each op fires with its policy probability (binomial, pooled over sub-policies)
    prob = scheme._probability[p.sub_policy].numpy()
    fired = p.applied.numpy()
    z = (fired.sum() - prob.sum()) / np.sqrt((prob * (1 - prob)).sum())
    assert abs(z) < stats.norm.isf(ALPHA / 2)


@pytest.mark.parametrize(("size", "fill"), [(32, None), (64, (120, 110, 100))])
def test_ops_agree_with_torchvision_autoaugment_image_by_image(size, fill):
    scheme = A.get("autoaugment", image_size=size, fill=fill)
    reference = v2.AutoAugment(v2.AutoAugmentPolicy[POLICIES[scheme.policy]], fill=fill)
    x = _images(200, size)
    y, p = scheme(x, generator=torch.Generator().manual_seed(3), return_params=True)
    ops_seen = set()
    for i in range(len(x)):
        want = x[i]
        sub = reference._policies[int(p.sub_policy[i])]
        for slot, (op, _, magnitude_bin) in enumerate(sub):
            if not p.applied[i, slot]:
                continue
            magnitudes_fn, signed = reference._AUGMENTATION_SPACE[op]
            magnitudes = magnitudes_fn(10, size, size)
            magnitude = 0.0 if magnitudes is None else float(magnitudes[magnitude_bin])
            if signed and p.negative[i, slot]:
                magnitude = -magnitude
            want = reference._apply_image_or_video_transform(
                want, op, magnitude, interpolation=reference.interpolation, fill=reference._fill
            )
            ops_seen.add(op)
        assert torch.equal(y[i], want), f"image {i}, sub-policy {sub}"
    assert len(ops_seen) >= 8  # the comparison covered most op kinds, geometric ones included


def test_batch_mode_draws_one_sub_policy():
    p = A.get("autoaugment", randomness="batch").sample(_images(16, 32), torch.Generator().manual_seed(0))
    assert torch.all(p.sub_policy == p.sub_policy[0])
    assert torch.all(p.applied == p.applied[0]) and torch.all(p.negative == p.negative[0])
