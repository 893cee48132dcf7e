"""The Classifier wrapper: normalisation in front of a network, on raw images."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dastat.errors import InvalidArgumentError
from dastat.models import Classifier, create, wrap

MEAN, STD = (0.5, 0.25, 0.125), (0.5, 0.25, 0.2)


class Probe(nn.Module):
    """Returns its input flattened, so the test can see what the network received."""

    def forward(self, x):
        return x.flatten(1)


class PairNet(nn.Module):
    """mdistiller style: forward returns (logits, features)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 4 * 4, 5)

    def forward(self, x):
        logits = self.fc(x.flatten(1))
        return logits, {"pooled": x.mean((2, 3))}


def _images(n=2, size=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def test_uint8_is_scaled_and_normalised_per_channel():
    x = _images()
    out = wrap(Probe(), MEAN, STD)(x)
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    torch.testing.assert_close(out, ((x.float() / 255 - mean) / std).flatten(1))


def test_float_in_unit_range_gives_the_same_as_uint8():
    x = _images()
    model = wrap(Probe(), MEAN, STD)
    torch.testing.assert_close(model(x), model(x.float() / 255))


def test_integer_non_uint8_input_is_refused():
    with pytest.raises(InvalidArgumentError, match="uint8"):
        wrap(Probe(), MEAN, STD)(_images().long())


@pytest.mark.parametrize(("mean", "std", "word"), [((0.5, 0.5), STD, "mean"), (MEAN, (0.2, 0.0, 0.2), "std")])
def test_bad_statistics_are_refused(mean, std, word):
    with pytest.raises(InvalidArgumentError, match=f"^{word} must be"):
        wrap(Probe(), mean, std)


def test_logits_are_unwrapped_from_a_logits_features_pair():
    model = wrap(PairNet(), MEAN, STD, arch="pair")
    out = model(_images())
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5)
    assert model.num_classes == 5 and model.arch == "pair"


def test_attributes_come_from_a_zoo_network():
    model = wrap(create("resnet8", num_classes=10), MEAN, STD)
    assert isinstance(model, Classifier)
    assert (model.arch, model.num_classes, model.image_size) == ("resnet8", 10, 32)
    assert model.mean == MEAN and model.std == STD and model.checksum is None
    # Only the network's weights are state: the checkpoint stays RepDistiller's.
    assert all(k.startswith("net.") for k in model.state_dict())


def test_is_feat_passes_through_to_the_network():
    model = wrap(create("resnet8", num_classes=10), MEAN, STD).eval()
    x = _images(size=32)
    with torch.no_grad():
        feats, logits = model(x, is_feat=True)
        torch.testing.assert_close(logits, model(x))
    assert len(feats) == 5


def test_double_precision_follows_the_module():
    model = wrap(create("resnet8", num_classes=10), MEAN, STD).eval().double()
    with torch.no_grad():
        assert model(_images(size=32)).dtype == torch.float64


def test_wrapping_a_classifier_twice_is_refused():
    model = wrap(Probe(), MEAN, STD)
    with pytest.raises(InvalidArgumentError, match="already a Classifier"):
        wrap(model, MEAN, STD)
