"""Sweeps: grid expansion, skipping finished jobs, failures reported, submitit's debug executor."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent.parent / "train"))
from tiny import SIZE, toy_teacher

from dastat import models
from dastat.cli import main
from dastat.errors import ConfigError, UnknownNameError
from dastat.runs import expand, load_sweep, plan_cohorts, run_sweep
from dastat.train import read_records


@pytest.fixture
def sweep_file(tmp_path):
    teacher = models.save_checkpoint(toy_teacher(), tmp_path / "t" / "resnet8_vanilla" / "ckpt.pt")
    config = {
        "data": "synthetic",
        "data_options": {"num_classes": 4, "num_images": 24},
        "image_size": SIZE,
        "pairs": [{"teacher": str(teacher), "student": "resnet8"}],
        "schemes": ["flip", "mixup(alpha=0)"],  # the second is refused when its job builds it
        "seeds": [0],
        "epochs": 1,
        "batch_size": 12,
        "device": "cpu",
        "out": str(tmp_path / "runs"),
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_grid_expands_pairs_schemes_seeds_factors_and_probes():
    config = {"pairs": [{"teacher": "embedded", "student": "resnet8"}, {"teacher": "embedded", "student": "resnet14"}],
              "schemes": ["flip", "cutmix"], "seeds": [0, 1], "epoch_factors": [1, 2],
              "probe": {"schemes": ["flip", "cutmix", "mixup"], "seeds": [0]}}
    jobs = expand(config)
    assert sum(j.kind == "train" for j in jobs) == 2 * 2 * 2 * 2
    assert sum(j.kind == "probe" for j in jobs) == 3
    assert len({j.out_dir for j in jobs if j.kind == "train"}) == 16


def test_methods_are_a_grid_axis_and_plain_kd_keeps_its_names():
    config = {"pairs": [{"teacher": "embedded", "student": "resnet8"}], "schemes": ["flip", "cutmix"],
              "methods": ["kd", "crd"], "method_options": {"crd": {"nce_k": 64}}, "epochs": 1}
    jobs = expand(config)
    assert sorted((j.method, j.scheme) for j in jobs) == [("crd", "cutmix"), ("crd", "flip"), ("kd", "cutmix"),
                                                          ("kd", "flip")]
    crd = [j for j in jobs if j.method == "crd"]
    assert all(j.method_options == {"nce_k": 64} and j.name.endswith(":crd") for j in crd)
    kd = [j for j in jobs if j.method == "kd"]
    assert [j.name for j in kd] == [j.name for j in expand({**config, "methods": ["kd"]})]
    assert all(j.method_options == {} and not j.name.endswith(":kd") for j in kd)
    assert len({j.out_dir for j in jobs}) == 4


def test_crd_students_of_a_sweep_run_are_recorded_with_their_method_and_skipped_after(sweep_file, tmp_path):
    config = yaml.safe_load(sweep_file.read_text())
    config.update(schemes=["flip"], methods=["crd"], method_options={"crd": {"nce_k": 8, "feat_dim": 8}})
    store = tmp_path / "s.sqlite"
    summary = run_sweep(config, store=str(store))
    assert summary["failed"] == [] and len(summary["ok"]) == 1
    import dastat.store

    assert dastat.store.open(store).students()["method"].tolist() == ["crd"]
    assert run_sweep(config, store=str(store))["skipped"] == summary["ok"]


def test_unknown_method_in_a_sweep_file_is_refused_with_close_names(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("pairs: [{teacher: embedded}]\nmethods: [crdd]\n")
    with pytest.raises(UnknownNameError, match="'crd'"):
        load_sweep(path)


def test_unknown_scheme_in_a_sweep_file_is_refused_before_any_job(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("pairs: [{teacher: t.pt, student: resnet8}]\nschemes: [flip, cutmax]\n")
    with pytest.raises(UnknownNameError, match="Did you mean 'cutmix'"):
        expand(path)


def test_bad_sweep_file_names_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("pairs: []\nschemas: [flip]\n")
    with pytest.raises(ConfigError, match=r"unknown keys \['schemas'\]"):
        load_sweep(path)


def test_failing_job_does_not_stop_the_others_and_done_jobs_are_skipped(sweep_file, capsys):
    summary = run_sweep(sweep_file)
    assert len(summary["ok"]) == 1 and len(summary["failed"]) == 1, summary
    assert "mixup(alpha=0)" in summary["failed"][0]["job"]
    assert "alpha must be in (0, inf)" in summary["failed"][0]["error"]

    assert main(["sweep", str(sweep_file)]) == 1  # the failure is reported again, the finished job skipped
    out = capsys.readouterr().out
    assert "2 jobs: 1 already done, 0 ran, 1 failed" in out and "FAILED" in out


def test_submitit_debug_executor_runs_the_jobs(sweep_file):
    config = load_sweep(sweep_file)
    config["schemes"] = ["flip"]
    summary = run_sweep(config, executor="debug")
    assert summary["ok"] and not summary["failed"]
    assert summary["results"][0]["scheme"] == "flip"


def test_local_worker_processes_split_the_cores_and_run_the_jobs(sweep_file):
    config = load_sweep(sweep_file)
    config["schemes"], config["seeds"] = ["flip"], [0, 1]
    summary = run_sweep(config, jobs=2)
    assert len(summary["ok"]) == 2 and not summary["failed"], summary


def test_share_cores_gives_each_job_its_part_of_the_cores(monkeypatch):
    import torch

    from dastat.runs.executors import _share_cores

    before = torch.get_num_threads()
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(6)), raising=False)
    try:
        _share_cores(2)
        assert torch.get_num_threads() == 3
        _share_cores(8)  # more jobs than cores: one thread each
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_jobs_of_one_pair_train_as_cohorts_and_cohort_size_1_trains_each_alone(sweep_file, tmp_path):
    config = load_sweep(sweep_file)
    config["schemes"], config["seeds"] = ["flip", "cutmix"], [0, 1]
    jobs = expand(config)
    assert [len(c) for c in plan_cohorts(jobs)] == [4]
    assert [len(c) for c in plan_cohorts(jobs, 3)] == [3, 1]
    assert [len(c) for c in plan_cohorts(jobs, 1)] == [1, 1, 1, 1]
    by_seed = plan_cohorts(jobs, by_seed=True)
    assert [sorted({j.seed for j in c}) for c in by_seed] == [[0], [1]] and [len(c) for c in by_seed] == [2, 2]
    together = run_sweep(config)
    # Run here on the CPU, where members share only their seed's work, the cohorts are one seed each.
    assert len(together["ok"]) == 4 and len(together["cohorts"]) == 2, together
    alone = run_sweep({**config, "out": str(tmp_path / "alone")}, cohort_size=1)
    assert len(alone["ok"]) == 4 and len(alone["cohorts"]) == 4, alone
    key = lambda r: (r["scheme"], r["seed"])  # noqa: E731
    assert sorted(map(key, together["results"])) == sorted(map(key, alone["results"]))
    for a, b in zip(sorted(together["results"], key=key), sorted(alone["results"], key=key)):
        # Two steps of float32 training: the grouped convolutions' other summation order stays far below 1e-4.
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-4)
    for job in jobs:
        assert read_records(Path(job.out_dir))[1] is not None and (Path(job.out_dir) / "student.pt").exists()


def test_a_cohort_with_progress_shows_one_bar_with_its_members(sweep_file, capsys):
    from dastat.runs.executors import run_cohort

    config = load_sweep(sweep_file)
    config["schemes"], config["seeds"] = ["flip", "cutmix"], [0]
    jobs = tuple(dataclasses.replace(j, options={**j.options, "progress": True}) for j in expand(config))
    outcomes = run_cohort(jobs, position=1)
    assert [o["status"] for o in outcomes] == ["ok", "ok"], outcomes
    shown = capsys.readouterr().err
    assert "cohort of 2 [flip:s0, cutmix:s0]" in shown and "members=2/2" in shown and "1/1" in shown


def test_cohorts_are_parted_by_seed_only_for_cpu_jobs_run_here(sweep_file, monkeypatch):
    from dastat.runs.executors import cohorts_by_seed

    jobs = expand(load_sweep(sweep_file))
    assert cohorts_by_seed(jobs, "local")  # the sweep's device is cpu
    assert not cohorts_by_seed(jobs, "slurm")  # the nodes' device is not known here
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    auto = [dataclasses.replace(j, options={**j.options, "device": "auto"}) for j in jobs]
    assert not cohorts_by_seed(auto, "local")  # auto is CUDA here: one fused cohort per pair
