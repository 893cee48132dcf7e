"""RepDistiller compatibility: keys, shapes, logits and features against the shared fixture."""

from __future__ import annotations

import pytest
import torch

from dastat.models import create, list_models, load_teacher

ARCHS = [
    "resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet8x4",
    "resnet32x4", "ResNet50", "wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2", "vgg8", "vgg11", "vgg13",
    "vgg16", "vgg19", "MobileNetV2", "ShuffleV1", "ShuffleV2",
]


def _close(got: torch.Tensor, expected: torch.Tensor) -> None:
    # Tolerance from the fixture README: other conv back-ends differ at ~1e-15 in float64.
    err = (got - expected).abs().max().item()
    assert err <= 1e-9 * expected.abs().max().item(), f"max |got - expected| = {err:.3e}"


def test_input_rule_matches_manifest(compat):
    x = compat.x64
    info = compat.manifest["input"]
    assert x.sum().item() == pytest.approx(info["sum"], rel=1e-12)
    assert (x * x).sum().item() == pytest.approx(info["sum_sq"], rel=1e-12)
    assert x.flatten()[:8].tolist() == info["first_values"]


def test_all_22_names_are_registered(compat):
    assert sorted(compat.manifest["architectures"]) == sorted(ARCHS)
    assert set(ARCHS) <= set(list_models())


@pytest.mark.parametrize("arch", ARCHS)
def test_rule_weights_reproduce_repdistiller(arch, compat):
    entry, x64 = compat.entry(arch), compat.x64
    net = create(arch, num_classes=100)
    # Keys, order, shapes and dtypes exactly as RepDistiller's state_dict.
    got = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in net.state_dict().items()]
    assert got == [(s["name"], s["shape"], s["dtype"]) for s in entry["state_dict"]]
    assert sum(p.numel() for p in net.parameters()) == entry["num_parameters"]

    state = compat.state_dict(arch)
    for s in entry["state_dict"][:3] + entry["state_dict"][-2:]:  # the rule itself is right
        assert state[s["name"]].double().sum().item() == pytest.approx(s["rule_sum"], rel=1e-12, abs=1e-12)
    net.load_state_dict(state, strict=True)
    net.eval().double()
    with torch.no_grad():
        _close(net(x64), torch.tensor(entry["logits"], dtype=torch.float64))
        for preact in (False, True):
            feats, logits = net(x64, is_feat=True, preact=preact)
            _close(logits, torch.tensor(entry["logits"], dtype=torch.float64))
            expected = entry[f"features_is_feat_true_preact_{str(preact).lower()}"]
            assert [list(f.shape) for f in feats] == [e["shape"] for e in expected]
            for f, e in zip(feats, expected):
                assert f.sum().item() == pytest.approx(e["sum"], rel=1e-9, abs=1e-9 * abs(e["sum_sq"]) ** 0.5)
                assert (f * f).sum().item() == pytest.approx(e["sum_sq"], rel=1e-9)


@pytest.mark.parametrize("arch", ["resnet8", "resnet20", "wrn_16_2"])
def test_fixture_checkpoints_load_through_load_teacher(arch, compat):
    entry, x64 = compat.entry(arch), compat.x64
    path = compat.root / entry["checkpoint_file"]
    teacher = load_teacher(path)  # architecture from the <arch>_vanilla folder
    assert teacher.arch == arch and teacher.num_classes == 100
    assert teacher.source["arch_from"].startswith("folder")
    assert teacher.source["layout"] == "repdistiller"
    assert not teacher.training
    net = teacher.net.double()
    with torch.no_grad():
        _close(net(x64), torch.tensor(entry["logits"], dtype=torch.float64))
