"""Each method's loss against the values the reference code computes (compat/seedcode_losses)."""

from __future__ import annotations

import json

import pytest
import torch

from dastat.errors import InvalidArgumentError, UnknownNameError
from dastat.train import list_methods, method_loss

RTOL = 1e-10  # float64 inputs: only summation order may differ from the reference


@pytest.fixture(scope="module")
def fixture(shared_dir):
    folder = shared_dir / "compat" / "seedcode_losses"
    data = torch.load(folder / "losses_seed0.pt", weights_only=True)
    expected = json.loads((folder / "losses_seed0.json").read_text())["expected"]
    return data["inputs"], data["states"], expected


def _close(got, want):
    got = [float(g.detach()) for g in got] if isinstance(got, (list, tuple)) else [float(got.detach())]
    want = want if isinstance(want, list) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == pytest.approx(w, rel=RTOL, abs=0)


def test_kd_matches_the_reference(fixture):
    inputs, _, expected = fixture
    _close(method_loss("kd", T=4)(inputs["y_s"], inputs["y_t"]), expected["kd_T4"])


@pytest.mark.parametrize(("name", "key", "settings"), [
    ("attention", "at_p2", {"p": 2}), ("similarity", "sp", {}), ("nst", "nst", {}),
])
def test_per_pair_feature_losses_match_the_reference(fixture, name, key, settings):
    inputs, _, expected = fixture
    losses = method_loss(name, **settings)(inputs["s_feats"], inputs["t_feats"])
    assert isinstance(losses, list)
    _close(losses, expected[key])


def test_vector_losses_match_the_reference(fixture):
    inputs, _, expected = fixture
    _close(method_loss("correlation")(inputs["cc_s"], inputs["cc_t"]), expected["cc"])
    _close(method_loss("pkt")(inputs["s_vec"][:, :64], inputs["t_vec"][:, :64]), expected["pkt"])
    _close(method_loss("rkd", w_d=25, w_a=50)(inputs["s_vec"], inputs["t_vec"]), expected["rkd_wd25_wa50"])


def test_hint_vid_and_fsp_match_the_reference(fixture):
    inputs, states, expected = fixture
    s, t = inputs["s_feats"], inputs["t_feats"]
    _close(method_loss("hint")(s[2], t[2][:, :64]), expected["hint_mse"])
    vid = method_loss("vid", num_input_channels=64, num_mid_channel=128, num_target_channels=128).double()
    vid.load_state_dict(states["vid"])
    _close(vid(s[2], t[2]), expected["vid_64_128_128"])
    pairs_t = [t[0][:, :16], t[1][:, :32]]
    fsp = method_loss("fsp", s_shapes=[f.shape for f in s[:2]], t_shapes=[f.shape for f in pairs_t])
    _close(fsp(s[:2], pairs_t), expected["fsp_pairs01"])


def test_crd_matches_the_reference_over_two_steps(fixture):
    inputs, states, expected = fixture
    crd = method_loss("crd", s_dim=64, t_dim=128, feat_dim=16, nce_k=20, nce_t=0.07, nce_m=0.5, n_data=50).double()
    assert set(crd.state_dict()) == set(states["crd"])
    crd.load_state_dict(states["crd"])
    idx, contrast_idx = inputs["crd_idx"], inputs["crd_contrast_idx"]
    first = crd(inputs["s_vec"], inputs["t_vec"], idx, contrast_idx)
    assert first.shape == (1,)
    _close(first, expected["crd_first_step"])
    for name, value in states["crd_after"].items():
        torch.testing.assert_close(crd.state_dict()[name], value, rtol=RTOL, atol=0)
    second = crd(0.5 * inputs["s_vec"], 0.5 * inputs["t_vec"], idx, contrast_idx)
    _close(second, expected["crd_second_step"])


def test_every_reference_distiller_is_registered_with_a_one_line_summary():
    listed = list_methods()
    for name in ("kd", "crd", "attention", "similarity", "correlation", "pkt", "vid", "hint", "rkd", "nst",
                 "fsp", "kdsvd", "abound", "factor"):
        assert name in listed and "\n" not in listed[name] and listed[name]


def test_bad_names_and_settings_are_refused_with_the_allowed_ones():
    with pytest.raises(UnknownNameError, match="'crd'"):
        method_loss("crdd")
    with pytest.raises(InvalidArgumentError, match="its settings: p"):
        method_loss("attention", q=2)
    with pytest.raises(InvalidArgumentError, match="equal channel counts"):
        method_loss("fsp", s_shapes=[(2, 16, 8, 8)], t_shapes=[(2, 32, 8, 8)])
