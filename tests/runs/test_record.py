"""Recording and the "already done?" check: the runs layer records what probe and train return, and skips it after."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "train"))
from tiny import toy_split, toy_teacher

from dastat import data, models, probe, runs
from dastat import store as results_store
from dastat.train import distill

TINY_PROBE = {"max_sets": 2, "min_sets": 2, "check_every": 2, "device": "cpu"}


@pytest.fixture(scope="module")
def probed():
    return probe.measure_scheme(models.embedded_teacher(), data.load("digits"), "flip", **TINY_PROBE)


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    return models.save_checkpoint(toy_teacher(), tmp_path_factory.mktemp("teacher") / "resnet8_vanilla" / "ckpt.pt")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, teacher_file):
    train_set, test_set = toy_split(24, "train"), toy_split(12, "test")
    teacher = models.load_teacher(teacher_file, dataset=train_set)
    return distill(teacher, "resnet8", train_set, test_set, "flip", epochs=1, batch_size=12, device="cpu",
                   out_dir=tmp_path_factory.mktemp("run") / "flip")


def test_results_are_recorded_by_path_or_store_and_the_job_is_then_done(probed, tmp_path):
    path = tmp_path / "s.sqlite"
    job = runs.probe_jobs(["embedded"], ["flip"], [0], dataset="digits")[0]
    assert not runs.is_done(job, results_store.open(path))
    assert runs.record_probes(path, [probed]) == 1
    with results_store.open(path) as db:
        assert runs.record_probes(db, [probed]) == 1
        assert db.probes()["t_stddev"].tolist() == [pytest.approx(probed.t_stddev)] * 2
        assert runs.is_done(job, db)
        other = runs.probe_jobs(["embedded"], ["flip"], [0], dataset="digits", options={"protocol": "paper"})[0]
        assert runs.split_done([other, job], db) == ([other], [job])
    assert runs.record_probes(None, [probed]) == 0


def test_a_training_job_is_done_by_its_run_directory_or_the_store_by_teacher_checksum(trained, teacher_file,
                                                                                     tmp_path):
    job = runs.training_jobs([(str(teacher_file), "resnet8")], ["flip"], [0], dataset=trained.record["dataset"],
                             out=tmp_path / "runs", epochs=1)[0]
    db = results_store.open(tmp_path / "s.sqlite")
    assert not runs.is_done(job, db)
    assert runs.record_runs(db, [trained]) == 1
    assert runs.is_done(job, db)  # the teacher file hashed
    checksum = db.students()["teacher_checksum"][0]
    assert runs.is_done(replace(job, teacher_checksum=checksum), db)
    assert not runs.is_done(replace(job, teacher_checksum="another teacher"), db)
    assert not runs.is_done(replace(job, seed=1), db)
    assert runs.is_done(replace(job, out_dir=str(trained.out_dir)))  # its final record, without a store


def test_failed_cohort_members_are_not_recorded(trained, tmp_path):
    failed = replace(trained, extra={"error": "loss became NaN"})
    assert runs.record_runs(tmp_path / "s.sqlite", [failed, trained]) == 1
    assert len(results_store.open(tmp_path / "s.sqlite").students()) == 1


def test_a_bad_store_fails_the_job_before_any_compute(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the probe ran before the store was checked")

    monkeypatch.setattr(probe, "measure_scheme", never)
    (tmp_path / "junk.sqlite").write_bytes(b"\x00\x01junk" * 100)
    job = runs.probe_jobs(["embedded"], ["flip"], [0], dataset="digits", options=TINY_PROBE)[0]
    outcome = runs.run_job(replace(job, store=str(tmp_path / "junk.sqlite")))
    assert outcome["status"] == "failed" and "not a results store" in outcome["error"]
