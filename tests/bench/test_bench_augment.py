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
