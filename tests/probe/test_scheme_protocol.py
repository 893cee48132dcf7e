"""Schemes describe themselves to the probe (docs/method.md, "Schemes"): the engine names no scheme class.

A user scheme that mixes, registered in the test, declares its rows' labels and gets the figures of
the built-in mixup on the same draws, bit for bit, alone, picked from a pool, and as a stage.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from dastat import augment
from dastat.augment import kernels, sampling
from dastat.augment.scheme import RowLabels, Scheme
from dastat.errors import InvalidArgumentError
from dastat.probe import engine, protocols
from dastat.probe.stream import IndependentDraws

PROBE = Path(engine.__file__).parent


@augment.register("test_blend")
class Blend(Scheme):
    """Mixup written from scratch: λ ~ U(0, 1) = Beta(1, 1) per image, partner a derangement; no row_params."""

    min_batch = 2

    def sample(self, images, generator):
        b = images.shape[0]
        lam = sampling.beta(1.0, 1.0, b, generator).to(images.device)
        return lam, sampling.derangement(b, generator).to(images.device)

    def apply(self, images, params):
        lam, partner = params
        return kernels.blend(images, partner, lam)

    def row_labels(self, params, labels):
        lam, partner = params
        return RowLabels(labels, labels[partner], lam.double(), None)


def _concrete_scheme_names() -> set[str]:
    """Every class of dastat.augment but the base: Scheme subclasses and their parameter tuples."""
    names = set()
    for info in pkgutil.iter_modules(augment.__path__):
        module = importlib.import_module(f"dastat.augment.{info.name}")
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module.__name__ and obj not in (Scheme, RowLabels):
                names.add(name)
    return names


def test_the_probe_names_no_scheme_class():
    concrete = _concrete_scheme_names()
    assert {"Identity", "Mixup", "CutMix", "Pick", "MixupParams", "PickParams", "Compose"} <= concrete
    for path in sorted(PROBE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not used & concrete, f"{path.name} names scheme classes {sorted(used & concrete)}"


def test_a_user_scheme_declares_the_labels_of_its_rows():
    x = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    scheme = augment.get("test_blend", image_size=8)
    _, (lam, partner) = scheme(x, generator=3, return_params=True)
    rows = scheme.row_labels((lam, partner), labels)
    assert scheme.relabels and not augment.get("flip").relabels
    assert torch.equal(rows.own, labels) and torch.equal(rows.partner, labels[partner])
    assert rows.lam.dtype == torch.float64 and torch.equal(rows.lam, lam.double()) and rows.source is None
    kept = augment.get("flip", image_size=8).row_labels(None, labels)  # label-preserving: row i is image i
    assert torch.equal(kept.partner, labels) and torch.equal(kept.lam, torch.ones(6, dtype=torch.float64))
    assert torch.equal(kept.source, torch.arange(6))


def _records(teacher, digits, scheme, *, name="mixup"):
    teacher, dataset, _ = protocols.prepare(teacher, digits, "cpu")
    draws = IndependentDraws(len(dataset), 32, seed=0, device=dataset.device)
    scorer = augment.scorer_for(scheme, teacher, teacher)  # the teacher stands in for a student
    out = engine.run(teacher, dataset, [engine.SchemeSlot(name, scheme, scorer)], base=augment.standard(32),
                     stream=draws, batches_per_unit=2, units_per_set=1, seed=0, max_units=3, check_every=3)
    return out.records


def _assert_same(a, b):
    for f in fields(a):
        assert torch.equal(getattr(a, f.name).nan_to_num(-1), getattr(b, f.name).nan_to_num(-1)), f.name


@pytest.mark.parametrize("user, builtin", [
    ("test_blend", "mixup"),  # alone
    ("identity+test_blend", "mixup"),  # as the mixing stage of a composition (identity draws nothing)
    ("test_blend+identity", "mixup"),
])
def test_a_user_mixing_scheme_gets_the_figures_of_mixup_on_the_same_draws(digits, teacher, user, builtin):
    ours = _records(teacher, digits, augment.get(user))
    theirs = _records(teacher, digits, augment.get(builtin))
    assert float(ours.single_xprime.sum()) == 0  # two source images per row: no KL(p(x) ‖ p(x'))
    assert float(ours.hits_xprime.sum()) != float(ours.correct_xprime.sum())  # λ-weighted hits, not plain ones
    _assert_same(ours, theirs)


# the pools in the teacher's forward, scored by the engine's own forward, and by the scheme's own call
@pytest.mark.parametrize("criterion", ["teacher_entropy", "student_entropy", "kl"])
def test_a_pick_of_a_user_mixing_scheme_gets_the_figures_of_a_pick_of_mixup(digits, teacher, criterion):
    ours = _records(teacher, digits, augment.pick(augment.get("test_blend"), criterion), name="pick")
    theirs = _records(teacher, digits, augment.pick(augment.get("mixup"), criterion), name="pick")
    _assert_same(ours, theirs)


def test_a_composition_carries_its_mixing_stage_labels_and_refuses_two():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(8) % 3
    scheme = augment.get("flip_crop+mixup")
    assert scheme.min_batch == 2 and scheme.relabels
    _, params = scheme(x, generator=0, return_params=True)
    ours, mixup = scheme.row_labels(params, labels), scheme.stages[1].row_labels(params.stages[1], labels)
    assert all(torch.equal(a, b) for a, b in zip(ours[:3], mixup[:3])) and ours.source is None
    with pytest.raises(InvalidArgumentError, match="'test_blend' and 'cutmix' both mix images"):
        augment.get("test_blend+cutmix")
