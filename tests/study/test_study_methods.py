"""``dastat study --methods kd,crd``: students of both methods, read on their own in the report."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from dastat import store as store_mod
from dastat.cli import main


@pytest.mark.slow
def test_study_of_kd_and_crd_reports_correlations_per_method(tmp_path):
    out = tmp_path / "study"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        rc = main(["study", "--preset", "digits", "--quick", "--methods", "kd,crd", "--schemes",
                   "identity,flip,cutmix", "--out", str(out), "--device", "cpu", "--json"])
    summary = json.loads(buffer.getvalue())
    assert rc == 0 and summary["failed"] == []
    students = store_mod.open(out / "dastat.sqlite").students()
    assert sorted(students["method"].value_counts().items()) == [("crd", 3), ("kd", 3)]
    assert {row["kd_method"] for row in summary["correlations"]} == {"kd", "crd"}
    report = (out / "report.md").read_text()
    assert "resnet20 → resnet8, crd" in report and "resnet20 → resnet8, kd" in report
