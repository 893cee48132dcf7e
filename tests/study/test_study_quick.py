"""``dastat study --preset digits --quick``: the whole pipeline, in CI, on the embedded digits."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from dastat import store as store_mod
from dastat.cli import main

QUICK_SCHEMES = {"identity", "cutmix", "cutmixpick_s"}


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "digits-quick"
    return out, _run_json(["study", "--preset", "digits", "--quick", "--out", str(out), "--device", "cpu"])


def _run_json(argv, capsys=None):
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        rc = main([*argv, "--json"])
    return rc, json.loads(buffer.getvalue())


def test_quick_study_writes_report_figure_store_and_exports(quick_study):
    out, (rc, summary) = quick_study
    assert rc == 0 and summary["failed"] == []
    for name in ("report.md", "fig4_digits.png", "config.yaml", "dastat.sqlite", "students.csv", "probes.csv",
                 "curves.csv", "table.csv", "correlations.csv", "plateau.csv", "floor_effect.csv", "summary.json",
                 "ranking_resnet20.png"):
        assert (out / name).is_file(), name
    assert (out / "fig4_digits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_study_store_holds_every_scheme_once(quick_study):
    out, _ = quick_study
    store = store_mod.open(out / "dastat.sqlite")
    students, probes = store.students(), store.probes()
    assert set(students["scheme"]) == QUICK_SCHEMES and len(students) == 3  # the scorer run is not doubled
    assert set(students["teacher"]) == {"resnet20"} and set(students["student"]) == {"resnet8"}
    assert (students["epochs"] == 1).all() and (students["seed"] == 0).all()
    assert set(probes["scheme"]) == QUICK_SCHEMES and len(probes) == 3
    assert (probes["protocol"] == "fast").all()
    # docs/method.md, "The floor": t_stddev_rel is T. stddev over the label-composition floor of the same sets
    for row in probes.itertuples(index=False):
        assert row.floor > 0 and math.isclose(row.t_stddev_rel, row.t_stddev / row.floor, rel_tol=1e-9)


def test_quick_study_report_states_the_correlations_it_computed(quick_study):
    out, (_, summary) = quick_study
    report = (out / "report.md").read_text()
    for heading in ("## Reading", "## Figure 4 on this data", "label-composition floor", "## Plateau",
                    "## Correlations per pair", "## Selection", "## Discussion"):
        assert heading in report
    corr = pd.read_csv(out / "correlations.csv")
    spearman = corr[corr["method"] == "spearman"].iloc[0]
    assert f"Spearman {spearman['r']:+.3f}" in report
    assert {c["method"] for c in summary["correlations"]} == {"pearson", "spearman", "kendall"}


def test_rerun_skips_finished_jobs_and_probes(quick_study):
    out, _ = quick_study
    rc, summary = _run_json(["study", "--preset", "digits", "--quick", "--out", str(out), "--device", "cpu"])
    assert rc == 0
    assert summary["jobs_ran"] == 0 and summary["jobs_skipped"] == 4  # scorer + the 3-job grid
    store = store_mod.open(out / "dastat.sqlite")
    assert len(store.students()) == 3 and len(store.probes()) == 3
    assert summary["teachers"][0]["origin"] == "trained_before"


def test_unknown_preset_is_a_clean_cli_error(capsys, tmp_path):
    assert main(["study", "--preset", "cifar1000", "--out", str(tmp_path)]) == 2
    assert "cifar100" in capsys.readouterr().err


def test_reprobe_replaces_the_probes_and_keeps_the_students(quick_study, tmp_path):
    import shutil

    from dastat.study import reprobe_study

    out, _ = quick_study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = store_mod.open(copy / "dastat.sqlite")
    students, old_ids = before.students(), set(before.probes()["run_id"])
    shutil.rmtree(copy / "runs")  # the scorer student's checkpoint is gone: cutmixpick_s cannot be probed again
    result = reprobe_study(copy, device="cpu")
    after = store_mod.open(copy / "dastat.sqlite")
    probes = after.probes()
    assert set(probes["scheme"]) == QUICK_SCHEMES - {"cutmixpick_s"} and not old_ids & set(probes["run_id"])
    pd.testing.assert_frame_equal(after.students(), students)
    assert [f["job"] for f in result.failed] == ["probe cutmixpick_s for resnet20"]
    report = (copy / "report.md").read_text()
    assert "cutmixpick_s has no probe" in report and "fewer than 20 sets' worth" in report


def test_rewrite_report_recomputes_the_statistics_from_the_store_alone(quick_study):
    from dastat.study.report import rewrite_report

    out, _ = quick_study
    before = (out / "correlations.csv").read_text()
    (out / "report.md").unlink()
    (out / "correlations.csv").unlink()
    assert rewrite_report(out) == out / "report.md"
    assert "## Reading" in (out / "report.md").read_text()
    assert (out / "correlations.csv").read_text() == before  # seeded by the data: the same numbers again
    store = store_mod.open(out / "dastat.sqlite")
    assert len(store.students()) == 3  # nothing was trained
