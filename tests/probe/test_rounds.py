"""Rounds and passes: the record grows a round at a time, passes follow free memory, results do not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dastat import augment
from dastat.probe import engine, protocols
from dastat.probe.stream import EpochStream, IndependentDraws


def _run(teacher, digits, **kwargs):
    teacher, dataset, _ = protocols.prepare(teacher, digits, "cpu")
    fill = augment.fill_colour(teacher, dataset)
    jobs = [engine.SchemeSlot("cutout", augment.get("cutout", fill=fill)),
            engine.SchemeSlot("cutmixpick_t", augment.get("cutmixpick_t", fill=fill), teacher)]
    sizes = []
    draws = IndependentDraws(len(dataset), 64, seed=0, device=dataset.device)
    out = engine.run(teacher, dataset, jobs, base=augment.standard(32), stream=draws, batches_per_unit=1,
                     units_per_set=2, seed=0, max_units=5, check_every=2,
                     on_round=lambda o: sizes.append(len(o.records)), **kwargs)
    return out, sizes


def test_rounds_grow_the_record_and_stop_at_max_sets(digits, teacher, monkeypatch):
    passes = []
    compute = engine._Engine.compute
    monkeypatch.setattr(engine._Engine, "compute", lambda self, sets, active: passes.append(list(sets))
                        or compute(self, sets, active))
    out, sizes = _run(teacher, digits)
    assert sizes == [2, 4, 5]  # rounds of check_every units, the last one cut at max_units
    assert passes == [[0, 1], [2, 3], [4]]  # memory holds a round: one pass each
    assert out.counts == {"cutout": 5, "cutmixpick_t": 5}


def test_little_free_memory_means_smaller_passes_and_the_same_sets(digits, teacher, monkeypatch):
    roomy, _ = _run(teacher, digits)
    passes = []
    compute = engine._Engine.compute
    monkeypatch.setattr(engine._Engine, "compute", lambda self, sets, active: passes.append(list(sets))
                        or compute(self, sets, active))
    monkeypatch.setattr(engine, "_free_memory", lambda device: 1)  # a pass then holds a single unit
    tight, sizes = _run(teacher, digits)
    assert passes == [[k] for k in range(5)] and sizes == [2, 4, 5]
    for name in ("cutout", "cutmixpick_t"):
        np.testing.assert_array_equal(tight.unit_means(name), roomy.unit_means(name))
    for field in ("rows_xprime", "forwards_xprime", "correct_xprime", "entropy"):
        assert torch.equal(getattr(tight.records, field), getattr(roomy.records, field))


def test_pass_size_follows_the_free_memory(digits, teacher, monkeypatch):
    teacher, dataset, _ = protocols.prepare(teacher, digits, "cpu")
    job = engine.SchemeSlot("cutout", augment.get("cutout"))
    with torch.inference_mode():
        stream = EpochStream(len(dataset), 64, seed=0, device=dataset.device)
        eng = engine._Engine(teacher, dataset, [job], base=augment.standard(32), stream=stream, batches_per_unit=5,
                             seed=0, amp=False)
    assert eng.rows_per_unit({"cutout"}) == 2 * 5 * 64  # x and x'
    per_set = eng.rows_per_unit({"cutout"}) * (3 * 3 * 32 * 32 + 4 * 8 * 10)
    forward = eng.forward_rows * eng.row_bytes
    cap = engine.CPU_PASS_FORWARDS
    monkeypatch.setattr(engine, "CPU_PASS_FORWARDS", 10**6)  # memory alone decides
    monkeypatch.setattr(engine, "_free_memory", lambda device: int((forward + 10 * per_set) / engine.MEMORY_SHARE))
    assert eng.units_per_pass({"cutout"}) == 10
    monkeypatch.setattr(engine, "CPU_PASS_FORWARDS", cap)
    monkeypatch.setattr(engine, "_free_memory", lambda device: 2**50)  # on CPU a pass stops at a few forwards
    assert eng.units_per_pass({"cutout"}) == max(1, engine.CPU_PASS_FORWARDS * engine.CPU_FORWARD_ROWS // 640)


def test_cuda_forwards_take_a_quarter_of_the_free_memory(monkeypatch):
    # the CUDA rule without a GPU: half of the planned share goes to a forward's activations
    monkeypatch.setattr(engine, "_free_memory", lambda device: 8 * 2**30)
    rows = engine._forward_rows(torch.device("cuda"), 2**20)
    assert rows == int(engine.MEMORY_SHARE / 2 * 8 * 2**30 // 2**20)
    assert engine._forward_rows(torch.device("cpu"), 2**20) == engine.CPU_FORWARD_ROWS


@pytest.mark.gpu
def test_cuda_closes_the_same_sets_as_the_cpu(digits, teacher):
    from dastat import probe

    kwargs = dict(max_sets=4, min_sets=4, check_every=2, rtol=1e-9, return_sets=True)
    for scheme in ("cutout", "mixup"):  # no picking: float32 differences could change a close pick
        cpu = probe.measure_scheme(teacher, digits, scheme, device="cpu", **kwargs)
        cuda = probe.measure_scheme(teacher, digits, scheme, device="cuda", **kwargs)
        assert (cuda.n_sets, cuda.n_teacher_forwards, cuda.rows_per_set) == (cpu.n_sets, cpu.n_teacher_forwards,
                                                                            cpu.rows_per_set)
        # TF32 convolutions: logits agree to ~1e-3 relative, set means (averages of 640 rows) closer
        np.testing.assert_allclose(cuda.set_means, cpu.set_means, rtol=1e-3)
