"""The benchmark runs end to end and writes its JSON (a smoke run on a tiny batch; timings not checked)."""

import json

from dastat.bench import augment as bench


def test_bench_writes_every_scheme_baseline_and_target(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "BATCH_SIZE", 8)
    monkeypatch.setattr(bench, "SIZES", (32,))
    report = bench.run(device="cpu", quick=True, out=tmp_path / "augment.json", threads=1)
    on_disk = json.loads((tmp_path / "augment.json").read_text())
    assert on_disk["targets"] == report["targets"]
    schemes = on_disk["sizes"]["32"]["schemes"]
    assert set(schemes) == set(bench.SCHEMES)
    assert schemes["flip"]["baseline"] == "torchvision_v2_per_image_loop"
    assert schemes["mixup"]["baseline"] == "timm_mixup_elem"
    assert all(row["images_per_s"] > 0 for row in schemes.values())
    assert {t["scheme"] for t in report["targets"]} >= {"flip", "flip_crop", "cutout", "autoaugment", "mixup"}


def test_without_timm_its_baselines_and_targets_are_left_out_and_said_so(tmp_path, monkeypatch, capsys):
    from dastat.cli import main

    monkeypatch.setattr(bench, "BATCH_SIZE", 8)
    monkeypatch.setattr(bench, "SIZES", (32,))
    monkeypatch.setattr(bench, "_timm_mixers", dict)
    assert main(["bench", "augment", "--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "augment.json").read_text())
    assert "baseline" not in report["sizes"]["32"]["schemes"]["mixup"]
    assert not {"mixup", "cutmix"} & {t["scheme"] for t in report["targets"] if t["what"].startswith("speedup")}
    assert all(t["value"] is not None for t in report["targets"])
    out = capsys.readouterr().out
    assert "timm is not installed" in out and f"wrote {tmp_path / 'augment.json'}" in out
    assert "targets met" in out


def test_method_without_the_train_target_is_refused(capsys):
    from dastat.cli import main

    assert main(["bench", "augment", "--quick", "--method", "kd"]) == 2
    assert "--method measures the train target" in capsys.readouterr().err
