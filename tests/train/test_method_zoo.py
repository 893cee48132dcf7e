"""One step of each method on the real zoo pair resnet32x4 -> resnet8x4: finite, and its gradients reach
the student and the method's own parameters, never the teacher."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from dastat import models
from dastat.train import list_methods
from dastat.train.methods import PairShapes, build_term

sys.path.insert(0, str(Path(__file__).parent))
from method_cases import OPTIONS, by_default_or_slow


@pytest.fixture(scope="module")
def zoo_pair():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        teacher = models.wrap(models.create("resnet32x4", num_classes=10), (0.5,) * 3, (0.25,) * 3).eval()
        student = models.wrap(models.create("resnet8x4", num_classes=10), (0.5,) * 3, (0.25,) * 3)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.arange(40) % 10
    with torch.no_grad():
        feat_t, _ = teacher(x, is_feat=True)
        preact_t, _ = teacher(x, is_feat=True, preact=True)
        feat_s, _ = student(x, is_feat=True)
    shapes = PairShapes([f.shape for f in feat_s], [f.shape for f in feat_t], labels, "resnet8x4")
    return teacher, student, x, shapes, {False: feat_t, True: preact_t}


@pytest.mark.parametrize("name", by_default_or_slow(m for m in list_methods() if m != "kd"))
def test_a_resnet32x4_to_resnet8x4_step_reaches_student_and_method_only(zoo_pair, name):
    teacher, student, x, shapes, feats_t = zoo_pair
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        term = build_term(name, shapes, OPTIONS.get(name))
    student.zero_grad(set_to_none=True)
    student.train()
    term.train()
    feat_s, _ = student(x, is_feat=True, preact=term.preact)
    feat_t = feats_t[term.preact]
    if term.has_term:
        loss = term(feat_s, feat_t, torch.arange(len(x)), torch.Generator().manual_seed(0))
    else:  # AB and FSP act through their pre-training loss
        loss = term.init_loss(feat_s, feat_t)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    if term.init_trains_student or term.has_term:
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    trained = [p for p in term.parameters() if p.requires_grad]
    if trained:
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)
