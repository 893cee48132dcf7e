"""DistributedDataParallel on CPU (gloo), two processes started as torchrun would start them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from dastat.train import read_records

CHILD = Path(__file__).with_name("child_run.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_ranks(out: Path, *args: str) -> None:
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "RANK": str(rank), "LOCAL_RANK": str(rank),
               "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, str(CHILD), str(out), *args],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err


def test_two_gloo_ranks_train_and_write_one_set_of_records(tmp_path):
    _two_ranks(tmp_path, "--epochs", "4", "--scheme", "mixup")

    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert len(lines) == 4 + 1  # one line per epoch and one final record: rank 1 wrote nothing
    curve, final = read_records(tmp_path)
    assert [row["epoch"] for row in curve] == [1, 2, 3, 4]
    assert final["config"]["world_size"] == 2
    assert curve[-1]["train_loss"] < curve[0]["train_loss"]
    assert (tmp_path / "student.pt").exists()


def test_two_gloo_ranks_keep_one_crd_memory_and_one_set_of_embeddings(tmp_path):
    _two_ranks(tmp_path, "--epochs", "2", "--method", "crd")
    a, b = (torch.load(tmp_path / f"method_rank{r}.pt", weights_only=True) for r in (0, 1))
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # A row is unit-norm once updated (its random start is not): every sample of both ranks' shards
    # reached both ranks' memories.
    for name in ("crd.contrast.memory_v1", "crd.contrast.memory_v2"):
        torch.testing.assert_close(a[name].norm(dim=1), torch.ones(len(a[name])))
