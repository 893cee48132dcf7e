"""RepDistiller event files (tensorboard_logger) and mdistiller worklogs (+ tensorboardX events)."""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap

import numpy as np
import pytest
import waiting

import dastat.store
from dastat.errors import IngestError
from dastat.store.ingest import ingest, mdistiller

# Three epochs of a student; event files hold float32, so values are compared as float32.
TEST_LOSS = [2.123456789, 1.5432101, 1.2345678]
TEST_ACC = [45.123, 60.987, 70.555]
TEST_TOP5 = [75.5, 85.25, 91.125]


def _f32(x):
    return float(np.float32(x))


def test_repdistiller_event_file_written_by_tensorboard_logger(tmp_path):
    if importlib.util.find_spec("tensorboard_logger") is None:  # importing it here would clash with protobuf
        pytest.skip("tensorboard_logger (RepDistiller's writer) not installed")
    folder = tmp_path / "save" / "student_tensorboards" / "S:wrn_16_2_T:wrn_40_2_cifar100_kd_r:0.1_a:0.9_b:0.0_1"
    script = textwrap.dedent(f"""
        import tensorboard_logger as tb_logger
        logger = tb_logger.Logger(logdir={str(folder)!r}, flush_secs=2)
        for epoch, (loss, acc, top5) in enumerate(zip({TEST_LOSS}, {TEST_ACC}, {TEST_TOP5}), start=1):
            logger.log_value('train_loss', 3.0 - epoch, epoch)
            logger.log_value('test_acc', acc, epoch)
            logger.log_value('test_loss', loss, epoch)
            logger.log_value('test_acc_top5', top5, epoch)
        logger._writer.flush()
    """)
    # tensorboard_logger's generated protobuf code needs the pure-Python protobuf runtime.
    env = {**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}
    waiting.run([sys.executable, "-c", script], check=True, env=env)
    (event_file,) = folder.glob("events.out.tfevents*")
    store = dastat.store.open(tmp_path / "s.sqlite")
    summary = ingest([tmp_path / "save"], store, constants={"scheme": "identity"})
    assert summary.skipped == [], summary.skipped
    run = store.students().iloc[0]
    assert (run["teacher"], run["student"], run["dataset"], run["scheme"]) == ("wrn_40_2", "wrn_16_2", "cifar100",
                                                                               "identity")
    curve = store.curves()
    assert curve["epoch"].tolist() == [1, 2, 3]
    assert curve["test_loss"].tolist() == [_f32(v) for v in TEST_LOSS]
    assert curve["test_acc1"].tolist() == [_f32(v) for v in TEST_ACC]
    assert curve["test_acc5"].tolist() == [_f32(v) for v in TEST_TOP5]
    assert curve["train_loss"].tolist() == [2.0, 1.0, 0.0]
    assert run["test_loss"] == _f32(TEST_LOSS[-1]) and run["best_epoch"] == 3 and run["epochs"] == 3
    assert str(event_file.resolve()) == run["source_path"]


def test_repdistiller_run_without_scheme_is_skipped_with_the_fix(tmp_path):
    tbx = pytest.importorskip("tensorboardX")
    folder = tmp_path / "S:resnet8x4_T:resnet32x4_cifar100_kd_r:0.1_a:0.9_b:0.0_1"
    with tbx.SummaryWriter(str(folder)) as writer:
        writer.add_scalar("test_loss", 1.0, 1)
        writer.add_scalar("test_acc", 50.0, 1)
    summary = ingest([folder], dastat.store.open(tmp_path / "s.sqlite"))
    assert summary.exit_code == 1
    assert "--set scheme=" in summary.skipped[0]["error"]


def _write_mdistiller(run_dir, with_events, *, truncate=False):
    """mdistiller's trainer.log(): worklog blocks with 2 decimals, and tensorboardX scalars."""
    run_dir.mkdir(parents=True)
    lines = []
    if with_events:  # one writer for the run, as mdistiller's Trainer holds
        import tensorboardX

        writer = tensorboardX.SummaryWriter(os.path.join(run_dir, "train.events"))
    for epoch, (loss, acc, top5) in enumerate(zip(TEST_LOSS, TEST_ACC, TEST_TOP5), start=1):
        log = {"train_acc": 50.0 + epoch, "train_loss": 3.0 - epoch, "test_acc": acc, "test_acc_top5": top5,
               "test_loss": loss}
        lines += ["-" * 25 + os.linesep, f"epoch: {epoch}" + os.linesep, f"lr: {0.05:.2f}" + os.linesep]
        lines += [f"{k}: {v:.2f}" + os.linesep for k, v in log.items()]
        lines.append("-" * 25 + os.linesep)
        if with_events:
            for k, v in log.items():
                writer.add_scalar(k, v, epoch)
            writer.flush()
    if with_events:
        writer.close()
    if truncate:
        lines = lines[:-3]
    (run_dir / "worklog.txt").write_text("".join(lines))


@pytest.mark.parametrize("with_events", [True, False])
def test_mdistiller_worklog_prefers_its_events(tmp_path, with_events):
    if with_events:
        pytest.importorskip("tensorboardX")
    run_dir = tmp_path / "output" / "cifar100_baselines" / "kd,res32x4,res8x4"
    _write_mdistiller(run_dir, with_events)
    store = dastat.store.open(tmp_path / "s.sqlite")
    summary = ingest([tmp_path / "output"], store, constants={"scheme": "flip_crop"})
    assert summary.skipped == [] and len(summary.read) == 1  # the events were read with the worklog
    run = store.students().iloc[0]
    assert (run["teacher"], run["student"], run["dataset"]) == ("resnet32x4", "resnet8x4", "cifar100")
    curve = store.curves()
    convert = _f32 if with_events else (lambda v: round(v, 2))
    assert curve["test_loss"].tolist() == [convert(v) for v in TEST_LOSS]
    assert curve["test_acc1"].tolist() == [convert(v) for v in TEST_ACC]
    assert curve["test_acc5"].tolist() == [convert(v) for v in TEST_TOP5]
    assert curve["train_loss"].tolist() == [2.0, 1.0, 0.0]


def test_mdistiller_truncated_worklog_is_refused(tmp_path):
    run_dir = tmp_path / "cifar100_baselines" / "kd,res56,res20"
    _write_mdistiller(run_dir, False, truncate=True)
    with pytest.raises(IngestError, match=r"worklog\.txt, line \d+: the last block is not closed"):
        mdistiller.parse(run_dir / "worklog.txt")


def test_mdistiller_garbled_value_names_its_line(tmp_path):
    run_dir = tmp_path / "cifar100_baselines" / "kd,res56,res20"
    _write_mdistiller(run_dir, False)
    path = run_dir / "worklog.txt"
    path.write_text(path.read_text().replace("test_loss: 1.54", "test_loss: 1.5q"))
    with pytest.raises(IngestError, match=r"line 17: test_loss should be a number; got '1.5q'"):
        mdistiller.parse(path)
