"""The pre-training stage of AB, FT and FSP: what it trains, what it leaves alone, and its replay."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny import toy_split, toy_teacher

from dastat import models
from dastat.train import inputs
from dastat.train.init_stage import default_init_epochs, run_init_stage
from dastat.train.methods import PairShapes, build_term


def _setup(name: str):
    train = toy_split(16, "train")
    teacher = toy_teacher()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        student = models.wrap(models.create("resnet8", num_classes=4, image_size=16), (0.4,) * 3, (0.25,) * 3,
                              arch="resnet8")
        with torch.no_grad():
            student.eval()
            shapes = PairShapes([f.shape for f in student(train.images[:2], is_feat=True)[0]],
                                [f.shape for f in teacher(train.images[:2], is_feat=True)[0]], train.labels, "resnet8")
        term = build_term(name, shapes)
    return train, teacher, student, term


def _stage(name: str):
    train, teacher, student, term = _setup(name)
    before = {k: v.clone() for k, v in [*student.state_dict().items(), *term.state_dict().items()]}
    losses = run_init_stage(term, student, teacher, train, epochs=2, lr=0.05, batch_size=8, seed=0,
                            augment=inputs.standard_augment(16))
    after = {**student.state_dict(), **term.state_dict()}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    return losses, changed, term, after


def test_ft_trains_its_paraphraser_only_and_leaves_it_frozen():
    losses, changed, term, _ = _stage("factor")
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    assert changed and all(k.startswith("paraphraser.encoder") or k.startswith("paraphraser.decoder") for k in changed)
    assert not any(p.requires_grad for p in term.paraphraser.parameters())


def test_ab_trains_the_student_features_but_not_its_classifier():
    _, changed, term, _ = _stage("abound")
    assert not list(term.connector.parameters())  # resnet8 -> resnet8: equal shapes, identity connectors
    assert any(k.startswith("net.conv1") for k in changed) and not any(k.startswith("net.fc") for k in changed)


def test_the_stage_replays_with_the_seed_and_scales_with_the_run():
    a, b = _stage("fsp"), _stage("fsp")
    assert a[0] == b[0] and all(torch.equal(a[3][k], b[3][k]) for k in a[3])
    assert [default_init_epochs(e) for e in (240, 30, 4, 1)] == [30, 4, 1, 1]
