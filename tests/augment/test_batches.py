"""``Scheme.apply_batches``: several batches in one call give what one call per batch gives."""

import pytest
import torch

import dastat.augment as A

SCHEMES = ["identity", "flip", "crop", "flip_crop", "cutout", "autoaugment", "mixup", "cutmix"]


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("randomness", ["sample", "batch"])
def test_batches_in_one_call_equal_one_call_each(name, randomness):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (45, 3, 32, 32), generator=g, dtype=torch.uint8)
    batches = list(images.split([20, 16, 2, 7]))  # unequal sizes, as an epoch's last batch
    scheme = A.get(name, randomness=randomness, fill=(120, 110, 100))
    calls = torch.Generator().manual_seed(1)
    one_by_one = [scheme(b, generator=calls) for b in batches]  # one generator, batch after batch
    draws = torch.Generator().manual_seed(1)
    together = scheme.apply_batches(batches, [scheme.sample(b, draws) for b in batches])
    assert [t.shape for t in together] == [b.shape for b in batches]
    assert all(torch.equal(a, b) for a, b in zip(together, one_by_one))


def test_only_schemes_that_sample_then_apply_are_split():
    from torchvision.transforms import v2

    assert A.get("cutout").samples_then_applies
    assert not A.get("cutmixpick_t").samples_then_applies  # it scores its pool in between
    assert not A.from_transform(v2.RandomInvert()).samples_then_applies
