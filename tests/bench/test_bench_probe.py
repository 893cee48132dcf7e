"""Smoke test of ``dastat bench probe`` on the smallest settings: the report's shape, finite ratios."""

from __future__ import annotations

import json
import math

import pytest

from dastat.bench import probe as bench

TINY = bench.Plan(
    teachers={"resnet8": 2}, schemes=("cutmixpick_t",), set_blocks=2, repeats=1,
    digits_max_sets=3, synthetic_train_images=128, synthetic_test_images=64, synthetic_epochs=1,
    synthetic_max_sets=3, synthetic_schemes=("cutout",),  # the jackknife interval needs 3 sets
)


def test_quick_bench_writes_a_finite_report(tmp_path):
    out = tmp_path / "bench" / "probe.json"
    report = bench.run(device="cpu", quick=True, out=out, parts=("efficiency", "cost"), plan=TINY)
    assert json.loads(out.read_text())["bench"] == "probe"
    assert report["threads"] >= 1 and len(report["load_average_1min"]) == 2

    assert [(r["teacher"], r["scheme"]) for r in report["efficiency"]] == [("resnet8", "cutmixpick_t")]
    for row in report["efficiency"]:
        assert row["n_sets"] == 2
        # the forwards alone are the probe's forwards, counted the same way (scorer pool included)
        assert row["forwards_match"], row
        assert all(math.isfinite(row[k]) and row[k] > 0 for k in ("ratio", "ratio_engine_loop", "ratio_cpu"))
        assert row["probe_wall_s"] >= row["probe_engine_s"] > 0

    digits, synthetic = report["cost"]
    assert digits["num_classes"] == 10 and synthetic["num_classes"] == 100
    for row in report["cost"]:
        # three sets are fewer than fast's min_sets: the count is extrapolated from the half-width reached
        assert row["sets_run"] == 3 and row["how"].startswith("extrapolated")
        assert row["sets_needed"] >= row["sets_run"]
        assert math.isfinite(row["rel_halfwidth_reached"])
        assert row["teacher_forwards_needed"] == pytest.approx(row["sets_needed"] * row["teacher_forwards_per_set"])
        assert math.isfinite(row["share_of_paper_forwards"]) and row["share_of_paper_forwards"] > 0
    assert {t["what"].split(",")[0] for t in report["targets"]} >= {"share of paper forwards"}
    assert "rank" not in report


def test_unknown_part_is_refused(tmp_path):
    from dastat.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="parts"):
        bench.run(device="cpu", out=tmp_path / "p.json", parts=("speed",))
