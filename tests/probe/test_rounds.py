"""Rounds and passes: the record grows a round at a time, passes follow free memory, results do not."""

from __future__ import annotations

import numpy as np
import torch

from dastat import augment
from dastat.probe import engine, protocols


def _run(teacher, digits, **kwargs):
    teacher, dataset, _ = protocols.prepare(teacher, digits, "cpu")
    fill = protocols.fill_colour(teacher, dataset)
    jobs = [engine.Job("cutout", augment.get("cutout", fill=fill)),
            engine.Job("cutmixpick_t", augment.get("cutmixpick_t", fill=fill), teacher)]
    sizes = []
    out = engine.run(teacher, dataset, jobs, base=augment.standard(32), batch_size=64, batches_per_set=2, seed=0,
                     max_sets=5, check_every=2, on_round=lambda o: sizes.append(len(o.records)), **kwargs)
    return out, sizes


def test_rounds_grow_the_record_and_stop_at_max_sets(digits, teacher, monkeypatch):
    passes = []
    compute = engine._Engine.compute
    monkeypatch.setattr(engine._Engine, "compute", lambda self, sets, active: passes.append(list(sets))
                        or compute(self, sets, active))
    out, sizes = _run(teacher, digits)
    assert sizes == [2, 4, 5]  # rounds of check_every sets, the last one cut at max_sets
    assert passes == [[0, 1], [2, 3], [4]]  # memory holds a round: one pass each
    assert out.counts == {"cutout": 5, "cutmixpick_t": 5}


def test_little_free_memory_means_smaller_passes_and_the_same_sets(digits, teacher, monkeypatch):
    roomy, _ = _run(teacher, digits)
    passes = []
    compute = engine._Engine.compute
    monkeypatch.setattr(engine._Engine, "compute", lambda self, sets, active: passes.append(list(sets))
                        or compute(self, sets, active))
    monkeypatch.setattr(engine, "_free_memory", lambda device: 1)  # a pass then holds a single set
    tight, sizes = _run(teacher, digits)
    assert passes == [[k] for k in range(5)] and sizes == [2, 4, 5]
    for name in ("cutout", "cutmixpick_t"):
        np.testing.assert_array_equal(tight.set_means(name), roomy.set_means(name))
    for field in ("rows_xprime", "forwards_xprime", "correct_xprime", "entropy"):
        assert torch.equal(getattr(tight.records, field), getattr(roomy.records, field))


def test_pass_size_follows_the_free_memory(digits, teacher, monkeypatch):
    teacher, dataset, _ = protocols.prepare(teacher, digits, "cpu")
    job = engine.Job("cutout", augment.get("cutout"))
    with torch.inference_mode():
        eng = engine._Engine(teacher, dataset, [job], base=augment.standard(32), batch_size=64, batches_per_set=5,
                             seed=0, amp=False)
    assert eng.rows_per_set({"cutout"}) == 2 * 5 * 64  # x and x'
    per_set = eng.rows_per_set({"cutout"}) * (3 * 3 * 32 * 32 + 4 * 8 * 10)
    forward = eng.forward_rows * eng.row_bytes
    monkeypatch.setattr(engine, "_free_memory", lambda device: int((forward + 10 * per_set) / engine.MEMORY_SHARE))
    assert eng.sets_per_pass({"cutout"}) == 10
