"""The registry and factory: names, errors, every architecture at 32 and 64 px."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dastat.errors import InvalidArgumentError, UnknownNameError
from dastat.models import create, list_models

CIFAR_ZOO = [
    "resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet8x4",
    "resnet32x4", "ResNet50", "wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2", "vgg8", "vgg11", "vgg13",
    "vgg16", "vgg19", "MobileNetV2", "ShuffleV1", "ShuffleV2",
]


def test_list_models_filters_and_sorts_naturally():
    assert list_models("wrn*") == ["wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2"]
    assert list_models("resnet?") == ["resnet8"]
    assert list_models("resnet*")[:4] == ["resnet8", "resnet8x4", "resnet14", "resnet20"]
    assert set(CIFAR_ZOO) <= set(list_models())
    assert "tv_resnet18" in list_models("tv_*")


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"unknown model 'resnet9'.*Did you mean.*'resnet8'"):
        create("resnet9")
    # Case-blind: the zoo keeps RepDistiller's spelling.
    with pytest.raises(UnknownNameError, match="'ResNet50'"):
        create("resnet50")


def test_bad_sizes_are_refused_with_the_argument_name():
    with pytest.raises(InvalidArgumentError, match="num_classes"):
        create("resnet8", num_classes=0)
    with pytest.raises(InvalidArgumentError, match="image_size"):
        create("resnet8", image_size=2.5)


def test_created_network_carries_its_description():
    net = create("resnet8", num_classes=7, image_size=64)
    assert (net.arch, net.num_classes, net.image_size) == ("resnet8", 7, 64)
    assert "arch" not in "".join(net.state_dict())  # plain attributes, not state


@pytest.mark.parametrize("arch", CIFAR_ZOO)
def test_every_cifar_arch_runs_at_64_px_with_the_32_px_keys(arch):
    """Runs at 64 px (test_compat runs every arch at 32 px); the size changes pooling only."""
    torch.manual_seed(0)
    with torch.device("meta"):
        keys32 = list(create(arch, num_classes=10, image_size=32).state_dict())
    net = create(arch, num_classes=10, image_size=64).eval()
    assert list(net.state_dict()) == keys32  # a 32-px checkpoint fits the 64-px network
    with torch.no_grad():
        feats, logits = net(torch.randn(2, 3, 64, 64), is_feat=True)
    assert logits.shape == (2, 10)
    assert feats[-1].shape[0] == 2 and feats[-1].ndim == 2  # pooled globally before the classifier
    assert torch.isfinite(logits).all()


def test_vgg_applies_its_fourth_pool_at_64_px_only():
    net = create("vgg8", num_classes=10, image_size=64).eval()
    with torch.no_grad():
        f64, _ = net(torch.randn(1, 3, 64, 64), is_feat=True)
        f32, _ = net(torch.randn(1, 3, 32, 32), is_feat=True)
    assert f64[3].shape[-1] == 8 and f64[4].shape[-1] == 4  # pool3 between block3 and block4
    assert f32[3].shape[-1] == 4 and f32[4].shape[-1] == 4


def test_32_px_keeps_repdistillers_fixed_pool_and_64_pools_globally():
    assert isinstance(create("resnet8", image_size=32).avgpool, nn.AvgPool2d)
    assert isinstance(create("resnet8", image_size=64).avgpool, nn.AdaptiveAvgPool2d)


@pytest.mark.parametrize("arch", ["tv_resnet18", "tv_mobilenet_v3_small"])
def test_torchvision_models_run_and_give_penultimate_features(arch):
    net = create(arch, num_classes=10, image_size=64).eval()
    with torch.no_grad():
        x = torch.randn(2, 3, 64, 64)
        logits = net(x)
        feats, logits2 = net(x, is_feat=True)
    assert logits.shape == (2, 10)
    torch.testing.assert_close(logits, logits2)
    assert feats[-1].shape[0] == 2 and feats[-1].ndim == 2


def test_torchvision_keys_are_torchvisions():
    import torchvision

    ours = create("tv_resnet18", num_classes=10).state_dict()
    theirs = torchvision.models.resnet18(weights=None, num_classes=10).state_dict()
    assert list(ours) == list(theirs)


@pytest.mark.slow
@pytest.mark.parametrize("arch", [n for n in list_models("tv_*")])
def test_every_torchvision_model_runs_at_64_px(arch):
    net = create(arch, num_classes=10, image_size=64).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_torchvision_models_pickle_whole():
    import pickle

    net = create("tv_shufflenet_v2_x1_0", num_classes=3).eval()
    again = pickle.loads(pickle.dumps(net))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(again(x), net(x))
