"""CPU probes keep freed forward buffers in the heap (docs/benchmarks.md, "probe"): no fresh pages per forward."""

from __future__ import annotations

import os
import resource
import sys

import pytest
import torch

from dastat import probe
from dastat.probe import engine


@pytest.mark.skipif(not sys.platform.startswith("linux") or any(k.startswith("MALLOC_") for k in os.environ),
                    reason="glibc's mallopt, not overridden by MALLOC_* variables")
def test_cpu_forwards_reuse_freed_memory(digits, make_teacher):
    teacher = make_teacher(digits)
    probe.measure_scheme(teacher, digits, "flip", max_sets=2, min_sets=2, rtol=1e-9, device="cpu")  # sets it up
    assert engine._FREED_MEMORY_KEPT
    x = digits.images[:1024]
    with torch.inference_mode():
        teacher(x)  # the first forward may grow the heap
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(3):
            teacher(x)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # a forward's float copy of its input alone spans this many 4 KiB pages; mapped afresh, each faults once
    fresh_pages = x.numel() * 4 // 4096
    assert faults < fresh_pages // 4, (faults, fresh_pages)  # without it: ~1.3x fresh_pages (TinyNet, glibc 2.36)
