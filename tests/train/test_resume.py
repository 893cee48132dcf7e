"""Kill a run for real (SIGKILL) after a checkpoint, resume it, and get bit-identical results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from dastat.train import read_records

sys.path.insert(0, str(Path(__file__).parent))
from tiny import sigkill_when_ready

CHILD = Path(__file__).with_name("child_run.py")


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(CHILD), str(out), *extra], capture_output=True, text=True,
                          timeout=300, env=env)


def _metrics(out: Path):
    curve, final = read_records(out)
    strip = [{k: v for k, v in row.items() if k != "wall_s"} for row in curve]
    keep = ("test_loss", "test_acc1", "test_acc5", "train_loss", "best_test_acc1", "best_epoch", "best_test_loss")
    return strip, {k: final[k] for k in keep}


def _straight_and_killed(tmp_path: Path, *extra: str) -> tuple[Path, Path]:
    """One run straight through, one killed in epoch 2 and resumed: both directories."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = _run(straight, *extra)
    assert done.returncode == 0, done.stderr

    # Epoch 1 ends with a checkpoint; kill at the second step of epoch 2 (two steps past it).
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = sigkill_when_ready([sys.executable, str(CHILD), str(killed), "--kill-at", "2,2", *extra], env)
    assert code == -signal.SIGKILL
    assert torch.load(killed / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not (killed / "final_weights.pt").exists()

    again = _run(killed, "--resume", *extra)
    assert again.returncode == 0, again.stderr
    return straight, killed


def test_run_killed_after_a_checkpoint_resumes_bit_identically(tmp_path):
    straight, killed = _straight_and_killed(tmp_path)

    a = torch.load(straight / "final_weights.pt", weights_only=True)
    b = torch.load(killed / "final_weights.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert _metrics(straight) == _metrics(killed)
    curve, final = read_records(killed)
    assert [row["epoch"] for row in curve] == [1, 2, 3]
    assert final["epochs"] == 3 and final["config"]["scheme"] == "cutmix"


def test_crd_run_killed_after_a_checkpoint_resumes_bit_identically(tmp_path):
    # CRD adds trained embeddings, a memory updated every step and negatives drawn from the run's generator.
    straight, killed = _straight_and_killed(tmp_path, "--method", "crd")
    a = torch.load(straight / "checkpoint.pt", weights_only=True)
    b = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert set(a["method"]) == {"crd.embed_s.linear.weight", "crd.embed_s.linear.bias", "crd.embed_t.linear.weight",
                                "crd.embed_t.linear.bias", "crd.contrast.params", "crd.contrast.memory_v1",
                                "crd.contrast.memory_v2"}
    for part in ("model", "method"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    assert _metrics(straight) == _metrics(killed)
    assert read_records(killed)[1]["method"] == "crd"
