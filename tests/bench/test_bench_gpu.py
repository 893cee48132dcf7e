"""``dastat bench gpu`` on the CPU: the refusal without CUDA, and the whole code path in a tiny ``--quick`` plan.

The trainer, cohort and cold-``rank`` benchmarks it calls take minutes even at their quick sizes: here they are
replaced by stand-ins that record how they were called (their own code has its own smoke runs).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from dastat.bench import gpu
from dastat.cli import main
from dastat.errors import InvalidArgumentError

TINY = replace(gpu.QUICK, copy_archs=(), rank_schemes=("identity", "flip"), forward_sizes=(64,),
               forward_images=64, probe=replace(gpu.QUICK.probe, rank_args=()))


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("device", ["auto", "cuda", "cpu"])
def test_without_cuda_the_suite_refuses_unless_quick(no_cuda, tmp_path, device):
    with pytest.raises(InvalidArgumentError, match=r"needs CUDA.*--quick"):
        gpu.run(device=device, out=tmp_path / "gpu.json")
    assert not (tmp_path / "gpu.json").exists()


def test_the_cli_refuses_in_one_line_and_exits_2(no_cuda, tmp_path, capsys):
    assert main(["bench", "gpu", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dastat bench: error:") and "needs CUDA" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "gpu.json").exists()


def test_plain_bench_leaves_the_gpu_target_out():
    from dastat.cli import bench

    assert "gpu" in bench._TARGETS and "gpu" not in bench._DEFAULT


def test_quick_suite_writes_one_report_with_every_part(tmp_path, monkeypatch):
    calls = {}
    out = tmp_path / "bench" / "gpu.json"

    def stand_in(name):
        def run(**kwargs):
            calls[name] = kwargs
            written = json.loads(out.read_text())  # every part done so far is on disk already
            assert {"paper", "rank", *calls} - {name} <= set(written), sorted(written)
            return {"bench": name, "rank": {"returncode": 0, "command": "dastat rank", "wall_s": 9.0}}
        return run

    monkeypatch.setattr(gpu.probe_bench, "run", stand_in("probe"))
    monkeypatch.setattr(gpu.train_bench, "run", stand_in("train"))
    monkeypatch.setattr(gpu.cohort_bench, "run", stand_in("cohort"))
    report = gpu.run(device="cpu", quick=True, out=out, plan=TINY)

    assert json.loads(out.read_text())["bench"] == "gpu"
    assert list(out.parent.iterdir()) == [out]  # the other benchmarks' files are not left beside it
    assert set(report["elapsed_s"]) == {"teacher", *gpu.PARTS}
    assert calls["probe"]["parts"] == ("efficiency", "rank") and calls["probe"]["plan"] is TINY.probe
    assert calls["cohort"]["cohort"] == TINY.cohort and calls["cohort"]["repeats"] == TINY.cohort_repeats
    assert all(c["device"] == "cpu" and c["quick"] for c in calls.values())

    (copy,) = report["inference_copy"]
    assert copy["folded"] and copy["met"], copy
    paper = report["paper"]
    assert paper["n_sets"] == 3 and paper["n_teacher_forwards"] == 3 * 640  # 15 batches of 64: x and x' rows
    assert math.isfinite(paper["vs_forwards_alone"]) and paper["vs_forwards_alone"] > 0
    assert report["rank"]["schemes"] and set(report["rank"]["schemes"]) == {"identity", "flip"}
    whats = [t["what"] for t in report["targets"]]
    assert any(w.startswith("paper protocol") for w in whats) and any(w.startswith("rank of 2") for w in whats)
    assert any(w.startswith("cold `dastat rank`") for w in whats)
    assert all(isinstance(t["met"], bool) for t in report["targets"])


def test_unknown_part_is_refused(tmp_path):
    with pytest.raises(InvalidArgumentError, match="parts"):
        gpu.run(device="cpu", quick=True, out=tmp_path / "g.json", parts=("speed",))
