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


# The pre-activation features differ by family, not by depth: one member of each family runs by default
# (resnet8x4 has a downsample in layer1, wrn_16_1 none in block1); the rest run under -m slow.
PREACT_DEFAULT = {"resnet8", "resnet8x4", "wrn_16_1", "wrn_16_2", "vgg8", "ShuffleV2"}


def _loaded(arch: str, compat) -> torch.nn.Module:
    entry = compat.entry(arch)
    net = create(arch, num_classes=100)
    # Keys, order, shapes and dtypes exactly as RepDistiller's state_dict.
    got = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in net.state_dict().items()]
    assert got == [(s["name"], s["shape"], s["dtype"]) for s in entry["state_dict"]]
    assert sum(p.numel() for p in net.parameters()) == entry["num_parameters"]
    state = compat.state_dict(arch)
    for s in entry["state_dict"][:3] + entry["state_dict"][-2:]:  # the rule was re-implemented right
        assert state[s["name"]].double().sum().item() == pytest.approx(s["rule_sum"], rel=1e-12, abs=1e-12)
    net.load_state_dict(state, strict=True)
    return net.eval().double()


def _check_features(feats, expected) -> None:
    assert [list(f.shape) for f in feats] == [e["shape"] for e in expected]
    for f, e in zip(feats, expected):
        # Sums can cancel to near zero: scale the tolerance by the feature's norm.
        assert f.sum().item() == pytest.approx(e["sum"], rel=1e-9, abs=1e-9 * e["sum_sq"] ** 0.5)
        assert (f * f).sum().item() == pytest.approx(e["sum_sq"], rel=1e-9)


@pytest.mark.parametrize("arch", ARCHS)
def test_rule_weights_reproduce_repdistiller(arch, compat):
    """Keys, shapes, the float64 logits and the is_feat features of RepDistiller's code."""
    entry = compat.entry(arch)
    net = _loaded(arch, compat)
    with torch.no_grad():
        # One forward checks both: is_feat=True returns the same logits as the plain call (same code path).
        feats, logits = net(compat.x64, is_feat=True)
    _close(logits, torch.tensor(entry["logits"], dtype=torch.float64))
    _check_features(feats, entry["features_is_feat_true_preact_false"])


def _preact_params():
    return [a if a in PREACT_DEFAULT else pytest.param(a, marks=pytest.mark.slow) for a in ARCHS]


@pytest.mark.parametrize("arch", _preact_params())
def test_plain_call_and_preact_features(arch, compat):
    entry = compat.entry(arch)
    net = _loaded(arch, compat)
    with torch.no_grad():
        logits = net(compat.x64)
        out = net(compat.x64, is_feat=True, preact=True)
    assert isinstance(logits, torch.Tensor)
    _close(logits, torch.tensor(entry["logits"], dtype=torch.float64))
    feats, logits_pre = out  # ResNet50 returns a 2-element list here, the others a tuple
    _close(logits_pre, torch.tensor(entry["logits"], dtype=torch.float64))
    _check_features(feats, entry["features_is_feat_true_preact_true"])


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
