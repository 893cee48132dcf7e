"""The single-run step's breakdown by part and the cohort bound derived from it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dastat.bench.step_profile import PARTS, SHARED, cohort_bound, format_breakdown, solo_step_breakdown

sys.path.insert(0, str(Path(__file__).parent))
from tiny import toy_split, toy_teacher


def test_the_breakdown_times_every_part_of_a_step():
    breakdown = solo_step_breakdown(toy_teacher(), "resnet8", toy_split(36, "train"), [("cutmix", 0), ("flip", 1)],
                                    batch_size=12, steps=1)
    assert list(breakdown["per_step_s"]) == list(PARTS) and breakdown["parts_shared"] == list(SHARED)
    assert all(s >= 0 for s in breakdown["per_step_s"].values())
    assert breakdown["step_s"] == pytest.approx(sum(breakdown["per_step_s"].values()))
    assert breakdown["shared_s"] == pytest.approx(sum(breakdown["per_step_s"][p] for p in SHARED))
    assert breakdown["per_step_s"]["student_forward_backward"] > 0


def test_the_bound_counts_the_shared_parts_once_per_seed_group():
    # A step of 10 ms of which 4 are shared: 27 members in 3 groups pay 27*6 + 3*4 ms instead of 27*10.
    breakdown = {"per_step_s": {"teacher_x": 0.004, "student_forward_backward": 0.006}, "step_s": 0.010,
                 "shared_s": 0.004, "parts_shared": ["teacher_x"]}
    assert cohort_bound(breakdown, 27, 3) == pytest.approx(270 / 174)
    assert cohort_bound(breakdown, 5, 5) == pytest.approx(1.0)  # nothing shared across seeds
    text = format_breakdown(breakdown, 27, 3)
    assert "teacher_x" in text and "40.0%" in text and "1.55x" in text


def test_the_cohort_benchmark_prints_its_ratio_and_the_breakdown():
    from dastat.bench import cohort as cohort_bench

    breakdown = {"per_step_s": {"teacher_x": 0.004, "student_forward_backward": 0.006}, "step_s": 0.010,
                 "shared_s": 0.004, "parts_shared": ["teacher_x"]}
    result = {"members": [f"{s}:s{seed}" for s, seed in cohort_bench.members(27)],
              "images_per_s": {"cohort": 600.0, "alone": 500.0}, "cohort_vs_alone": 1.2,
              "cohort_vs_alone_cpu_time": 1.1, "solo_step_cpu_s": breakdown}
    text = cohort_bench.summary(result)
    assert "cohort of 27: 600 img/s, alone 500 img/s (1.20x wall, 1.10x CPU time)" in text
    assert "27 members in 3 seed groups: 1.55x" in text
