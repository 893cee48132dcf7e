"""The paper's reference-code log.txt: every value read, probe runs, truncated and garbled logs."""

from __future__ import annotations

import pytest
from reference_writer import (
    BASE_ARGS,
    check_line,
    has_smilelogging,
    metric_line,
    write_by_hand,
    write_with_smilelogging,
)

import dastat.store
from dastat.errors import IngestError
from dastat.store.ingest import ingest, reference_log


@pytest.fixture(scope="module")
def smilelogging_dir(tmp_path_factory):
    """Every run of these tests written by smilelogging itself, in one subprocess (its import is slow)."""
    if not has_smilelogging():
        pytest.skip("smilelogging 0.2.x (the reference code's logger) not installed")
    cwd = tmp_path_factory.mktemp("smilelogging")
    write_with_smilelogging(cwd, [run for _, run in _RUNS.items()])
    return cwd


def _write(request, tmp_path, key):
    project, exp_id, args, utils, lines = _RUNS[key]
    if request.param == "smilelogging":
        cwd = request.getfixturevalue("smilelogging_dir")
        return cwd / "Experiments" / f"{project}_{exp_id}" / "log" / "log.txt"
    return write_by_hand(tmp_path, project, exp_id, args, utils, lines)


@pytest.fixture(params=["format", "smilelogging"])
def writer(request, tmp_path):
    return lambda key: _write(request, tmp_path, key)

# lr values as Python's str() prints them, as the reference code logs them.
EPOCHS = [(70.01, 91.2, 1.2345678, 1, "0.05"), (72.5, 92.0, 1.1, 2, "0.005000000000000001"),
          (71.98, 92.81, 1.034567, 3, "5.000000000000001e-05")]


def _student_lines():
    lines, best, best_epoch = [("plain", "==> training...")], 0.0, 0
    for acc1, acc5, loss, epoch, lr in EPOCHS:
        if acc1 > best:
            best, best_epoch = acc1, epoch
        lines += [("plain", f"epoch {epoch}, total time 12.30"),
                  ("acc", metric_line(acc1, acc5, loss, epoch, lr, best, best_epoch))]
    return lines


def test_student_run_every_value_is_read(tmp_path, writer):
    log = writer("student")
    parsed = reference_log.parse(log)
    assert parsed.probes == []
    (record, curve), = parsed.students
    assert record["run_id"] == "kd__wrn_40_2wrn_16_2__cifar100__cropflip_SERVER138-20220315-101237"
    assert (record["teacher"], record["student"], record["dataset"], record["scheme"]) == \
        ("wrn_40_2", "wrn_16_2", "cifar100", "crop+flip")
    assert [row["epoch"] for row in curve] == [1, 2, 3]
    for row, (acc1, acc5, loss, _epoch, lr) in zip(curve, EPOCHS):
        assert row["test_acc1"] == float(f"{acc1:.4f}")
        assert row["test_acc5"] == float(f"{acc5:.4f}")
        assert row["test_loss"] == float(f"{loss:.6f}")
        assert row["lr"] == float(lr)
    assert (record["test_loss"], record["test_acc1"], record["test_acc5"]) == (1.034567, 71.98, 92.81)
    assert (record["best_test_acc1"], record["best_epoch"], record["best_test_loss"]) == (72.5, 2, 1.1)
    assert record["epochs"] == 3 and record["epoch_factor"] == 1.0

    store = dastat.store.open(tmp_path / "s.sqlite")
    summary = ingest([log.parent.parent], store)  # the experiment folder, walked
    assert summary.skipped == [] and summary.exit_code == 0
    students = store.students()
    assert students.loc[0, "scheme"] == "flip_crop"  # normalised on the way in
    assert students.loc[0, "source"] == "reference_log"
    assert students.loc[0, "randomness"] == "batch"  # the reference code draws once per batch
    assert len(store.curves()) == 3 and len(store.probes()) == 0


@pytest.mark.parametrize(("criterion", "expected"), [("teacher_entropy", "cutmixpick_t"),
                                                      ("student_entropy", "cutmixpick_s")])
def test_probe_run_gives_the_last_meanstd_and_no_student_result(tmp_path, writer, criterion, expected):
    log = writer(criterion)
    store = dastat.store.open(tmp_path / "s.sqlite")
    summary = ingest([log], store)
    assert summary.skipped == []
    assert len(store.students()) == 0 and len(store.curves()) == 0
    probe = store.probes().iloc[0]
    assert probe["t_stddev"] == 0.005473 and probe["n_sets"] == 1563
    assert (probe["protocol"], probe["randomness"], probe["set_size"]) == ("paper", "batch", 640)
    assert probe["scheme"] == expected and probe["teacher"] == "wrn_40_2"


def _probe_run(criterion, exp_id):
    args = {**BASE_ARGS, "learning_rate": 0.0, "fix_student": True, "epochs": 2, "mix_mode": "cutmix_pick",
            "cutmix_pick_criterion": criterion, "mix_n_run": 2}
    utils = {"ON": True, "check_ce_var": True, "check_ce_var_trainset_size": 1000}
    lines = [("plain", check_line(1, 1, 4, 782, 0.011, 1.5)),
             ("acc", metric_line(1.0, 5.0, 4.605, 1, "0.0", 1.0, 1)),
             ("plain", check_line(1563, 2, 779, 1564, 0.005473, 1.234567)),
             ("acc", metric_line(1.0, 5.0, 4.605, 2, "0.0", 1.0, 1))]
    return (f"kd__wrn_40_2wrn_16_2__cifar100__CheckTProbStd_{criterion}", exp_id, args, utils, lines)


_RUNS = {
    "student": ("kd__wrn_40_2wrn_16_2__cifar100__cropflip", "SERVER138-20220315-101237", BASE_ARGS, None,
                _student_lines()),
    "teacher_entropy": _probe_run("teacher_entropy", "SERVER138-20220315-141340"),
    "student_entropy": _probe_run("student_entropy", "SERVER138-20220315-141345"),
}


def test_indentation_follows_the_experiment_ids_last_digit(tmp_path):
    log = write_by_hand(tmp_path, "p", "SERVER138-20220315-101230", BASE_ARGS, None, _student_lines())
    acc = [line for line in log.read_text().splitlines() if "Acc1" in line]
    assert acc[0].split("] ", 1)[1].startswith(" Acc1")  # digit 0: just the one space
    (_record, curve), = reference_log.parse(log).students
    assert len(curve) == 3


def test_truncated_log_is_refused_with_file_and_line(tmp_path):
    lines = _student_lines()[:-2]  # the last epoch never printed
    log = write_by_hand(tmp_path, "p", "SERVER138-20220315-101231", BASE_ARGS, None, lines)
    with pytest.raises(IngestError, match=r"log\.txt, line \d+: .*truncated.*epoch 2.*epochs argument is 3"):
        reference_log.parse(log)


def test_log_without_arguments_line_is_refused(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("hostname: x  userip: y\ncd /tmp\n")
    with pytest.raises(IngestError, match="no arguments line"):
        reference_log.parse(path)


@pytest.mark.parametrize("bad", ["nan", "1.03x4", "inf"])
def test_garbled_or_nan_metric_is_refused_with_its_line(tmp_path, bad):
    lines = _student_lines()
    lines[-1] = ("acc", lines[-1][1].replace("TestLoss 1.034567", f"TestLoss {bad}"))
    log = write_by_hand(tmp_path, "p", "SERVER138-20220315-101232", BASE_ARGS, None, lines)
    n = next(i for i, line in enumerate(log.read_text().splitlines(), 1) if f"TestLoss {bad}" in line)
    with pytest.raises(IngestError, match=rf"line {n}: TestLoss should be a (finite )?number; got '{bad}'"):
        reference_log.parse(log)


def test_ansi_colours_and_missing_mix_mode(tmp_path):
    args = {**BASE_ARGS, "mix_mode": None}
    log = write_by_hand(tmp_path, "p", "SERVER138-20220315-101233", args, None, _student_lines())
    text = log.read_text().replace("[101233", "\x1b[34m[101233").replace("] ", "] \x1b[0m")
    log.write_text(text)
    (record, curve), = reference_log.parse(log).students
    assert record["scheme"] == "none" and len(curve) == 3
    assert dastat.store.normalise_scheme(record["scheme"]) == ("identity", True)


def test_the_runs_distill_argument_is_its_method(tmp_path):
    crd_args = {**BASE_ARGS, "distill": "crd"}
    log = write_by_hand(tmp_path, "crd__wrn_40_2wrn_16_2__cifar100__cropflip", "SERVER138-20220315-101232",
                        crd_args, None, _student_lines())
    store = dastat.store.open(tmp_path / "s.sqlite")
    assert ingest([log], store).exit_code == 0
    plain = write_by_hand(tmp_path / "kd", "kd__wrn_40_2wrn_16_2__cifar100__cropflip", "SERVER138-20220315-101233",
                          BASE_ARGS, None, _student_lines())
    assert ingest([plain], store).exit_code == 0
    assert sorted(store.students()["method"]) == ["crd", "kd"]
