"""Rules that probe and trainer share live in one function each; both sides reach the same answer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dastat import augment, data, models
from dastat.probe import ProbeOptions, protocols
from dastat.train.distill import scheme_of

MEAN, STD = (0.2, 0.4, 0.6), (0.25, 0.25, 0.25)


def _synthetic(num_classes: int = 10):
    return data.load("synthetic", num_classes=num_classes, num_images=32, image_size=32, seed=0)


def _teacher(dataset, mean=MEAN, std=STD):
    net = models.create("resnet8", num_classes=dataset.num_classes, image_size=dataset.image_size)
    return models.wrap(net, mean, std, arch="resnet8")


def _probe_settings():
    return protocols.plan(ProbeOptions(batch_size=8, set_blocks=2, rtol=0.1, min_sets=2), 32)


def test_fill_is_the_teachers_mean_in_probe_and_trainer():
    ds = _synthetic()
    teacher = _teacher(ds)
    want = tuple(round(255 * m) for m in MEAN)
    assert augment.fill_colour(teacher, ds) == want
    for name in ("cutout", "autoaugment"):
        probed = protocols.make_slot(name, dataset=ds, teacher=teacher, student=None, cfg=_probe_settings(),
                                    fill=augment.fill_colour(teacher, ds)).scheme
        trained = scheme_of(name, ds, teacher)
        assert probed.fill == trained.fill == want


def test_fill_falls_back_to_the_dataset_mean_and_paints_zero_after_normalisation():
    ds = _synthetic()
    assert augment.fill_colour(nn.Identity(), ds) == tuple(round(255 * m) for m in ds.mean)
    teacher = _teacher(ds)
    # side 64 covers a 32 px image wherever the centre falls
    hole = augment.get("cutout", fill=augment.fill_colour(teacher, ds), side=64)
    x = hole(ds.images[:2], torch.Generator().manual_seed(0))
    # uint8 rounding leaves at most half a grey level per channel, divided by the std
    assert teacher.normalize(x).abs().max() <= 0.5 / 255 / min(STD) + 1e-6


def test_one_class_count_check_and_error_for_probe_trainer_and_checkpoint(tmp_path):
    from dastat.errors import CheckpointError, ClassCountError, InvalidArgumentError
    from dastat.train import inputs

    ds, other = _synthetic(10), _synthetic(7)
    teacher = _teacher(other)
    raised = []
    for attempt in (lambda: protocols.prepare(teacher, ds, "cpu"),
                    lambda: inputs.check_classes(teacher, ds, "teacher"),
                    lambda: _load(teacher, tmp_path, ds)):
        try:
            attempt()
        except ClassCountError as err:
            raised.append(str(err))
    assert len(raised) == 3 and all(m.startswith("class-count mismatch: ") for m in raised), raised
    assert all("has 7 classes but dataset 'synthetic' has 10" in m for m in raised), raised
    # callers that caught the old types still catch it
    assert issubclass(ClassCountError, CheckpointError) and issubclass(ClassCountError, InvalidArgumentError)


def _load(teacher, tmp_path, dataset):
    path = tmp_path / "resnet8_vanilla" / "w.pth"
    path.parent.mkdir()
    torch.save({"model": teacher.net.state_dict()}, path)
    return models.load_teacher(path, dataset=dataset)


def test_one_scorer_wiring_for_probe_and_trainer():
    from dastat.errors import DastatError
    from dastat.train.distill import StudentScorer, scorer_for

    ds = _synthetic()
    teacher, student = _teacher(ds), _teacher(ds, mean=ds.mean, std=ds.std)
    cfg = _probe_settings()
    for name, want in (("flip", None), ("cutmixpick_t", "teacher"), ("cutmixpick_s", "student"),
                       ("cutmixpick_kl", "pair")):
        job = protocols.make_slot(name, dataset=ds, teacher=teacher, student=student, cfg=cfg, fill=(0, 0, 0))
        trained = scorer_for(augment.get(name), teacher, student)
        if want is None:
            assert job.scorer is None and trained is None
        elif want == "teacher":
            assert job.scorer is teacher and trained is teacher
        elif want == "student":
            assert job.scorer is student and isinstance(trained, StudentScorer) and trained.student is student
        else:
            assert job.scorer == (teacher, student)
            assert trained[0] is teacher and trained[1].student is student
    for scheme in ("cutmixpick_s", augment.pick("flip", criterion="kl")):
        with pytest.raises(DastatError, match=r"needs a student: pass student= \(API\) or --student PATH"):
            protocols.make_slot(scheme, dataset=ds, teacher=teacher, student=None, cfg=cfg, fill=(0, 0, 0))


def test_a_kl_picking_scheme_probes_with_a_student():
    from dastat import probe

    ds = _synthetic()
    teacher, student = _teacher(ds), _teacher(ds, mean=ds.mean, std=ds.std)
    fast = dict(max_sets=3, min_sets=3, check_every=3, rtol=1e-9, device="cpu", batch_size=8, set_blocks=2)
    result = probe.measure_scheme(teacher, ds, "cutmixpick_kl", student=student, **fast)  # pick(cutmix, criterion="kl")
    assert result.n_sets == 3 and result.t_stddev > 0


def test_one_distributed_module_reads_the_world_for_probe_and_trainer(monkeypatch):
    from dastat import distributed

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.detect_world() == distributed.World(rank=3, size=4, local_rank=1)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name)
    world, dev = distributed.join(torch.device("cpu"))
    assert world == distributed.World() and dev == torch.device("cpu") and world.is_main
    sets = torch.arange(6.0).reshape(3, 2)
    assert distributed.gather_sets(sets, 3, world) is sets
    assert distributed.shard(torch.arange(5), distributed.World(rank=1, size=2)).tolist() == [1, 3, 0]


def test_one_teacher_loader_for_every_command():
    from dastat.cli import build_parser, common
    from dastat.errors import InvalidArgumentError

    ds = data.load("digits")
    mean = ["0.25", "0.5", "0.75"]
    for command in (["train"], ["probe", "--scheme", "flip"], ["rank"]):
        args = build_parser().parse_args([*command, "--arch", "resnet8", "--mean", *mean, "--trust-checkpoint"])
        assert args.arch == "resnet8" and args.trust_checkpoint
        with pytest.raises(InvalidArgumentError, match="--arch resnet8 names the architecture of a --teacher"):
            common.load_teacher(args, ds, "cpu")  # --arch is the --teacher file's: alone it would be ignored
        args.arch = None
        teacher = common.load_teacher(args, ds, "cpu")  # the embedded teacher takes --mean too
        assert teacher.mean == (0.25, 0.5, 0.75) and teacher.std == models.embedded_teacher().std


def test_shared_constants_are_written_once():
    import re
    from pathlib import Path

    import dastat
    from dastat import constants
    from dastat.cli import build_parser
    from dastat.models import normalisation
    from dastat.probe import STUDENT_FREE
    from dastat.runs import EXECUTORS as SWEEP_EXECUTORS
    from dastat.study.pipeline import EXECUTORS as STUDY_EXECUTORS

    assert STUDENT_FREE is constants.STUDENT_FREE and not hasattr(dastat.study, "ALL_SCHEMES")
    assert set(constants.PAPER_SCHEMES) <= set(augment.list_schemes())
    assert SWEEP_EXECUTORS is STUDY_EXECUTORS is constants.EXECUTORS
    assert normalisation.CIFAR100 is constants.CIFAR100 and normalisation.IMAGENET is constants.IMAGENET
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    assert tuple(next(a for a in sub["probe"]._actions if a.dest == "protocol").choices) == constants.PROTOCOLS
    for command in ("sweep", "study"):
        executor = next(a for a in sub[command]._actions if a.dest == "executor")
        assert tuple(executor.choices) == constants.EXECUTORS
    # the numbers and name lists themselves (as written in code: tuples, not docstrings) appear in one file
    literals = [r"0\.5071", r"0\.485", r"\(\"local\",\s*\"slurm\"", r"\(\s*\"fast\",\s*\"paper\"\s*\)",
                r"\"flip_crop\",\s*\"cutout\"", r"\(\s*\"sample\",\s*\"batch\"\s*\)"]
    root = Path(dastat.__file__).parent
    for pattern in literals:
        homes = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                       if re.search(pattern, p.read_text(encoding="utf-8")))
        assert set(homes) <= {"constants.py", "bench/augment.py"}, (pattern, homes)  # the bench times crop too


def test_rank_returns_one_result_object_that_is_not_a_data_frame():
    import pandas as pd

    from dastat import probe
    from dastat.errors import InvalidArgumentError

    ds = _synthetic()
    teacher = _teacher(ds)
    options = ProbeOptions(max_sets=3, min_sets=3, check_every=3, rtol=1e-9, batch_size=8, set_blocks=2)
    ranking = probe.rank(teacher, ds, ["identity", "flip"], options, device="cpu")
    assert isinstance(ranking, probe.Ranking) and isinstance(ranking.table, pd.DataFrame)
    assert sorted(ranking.table["scheme"]) == sorted(r.scheme for r in ranking.results) == ["flip", "identity"]
    for frame_use in (lambda: ranking["scheme"], lambda: ranking.iloc, lambda: len(ranking)):
        with pytest.raises((TypeError, AttributeError)):
            frame_use()
    with pytest.raises(InvalidArgumentError, match="unknown probe option"):
        probe.rank(teacher, ds, ["identity", "flip"], options, return_results=True)


def test_registration_is_spelt_register_everywhere():
    from dastat.augment.scheme import _SCHEMES
    from dastat.models.zoo import MODELS

    @models.register("rules_test_net")
    def _net(num_classes: int = 10, image_size: int = 32) -> nn.Module:
        return nn.Linear(3, num_classes)

    assert "rules_test_net" in models.list_models()
    augment.register("rules_test_identity")(lambda **kw: augment.get("identity", **kw))
    assert not hasattr(augment, "register_scheme")
    assert "rules_test_identity" in augment.list_schemes()
    for registry, names in ((_SCHEMES, ["rules_test_identity"]), (MODELS, ["rules_test_net"])):
        for name in names:
            registry._entries.pop(name)


def test_crop_takes_no_fill_and_get_builds_it_without_one():
    from dastat.augment.geometry import Crop
    from dastat.errors import InvalidArgumentError

    for name in ("crop", "flip_crop"):
        scheme = augment.get(name, fill=(10, 20, 30))  # the run's one fill: dropped for schemes that paint nothing
        assert scheme.fill is None and "fill" not in scheme.hparams
    assert augment.get("cutout", fill=(10, 20, 30)).fill == (10, 20, 30)
    with pytest.raises(InvalidArgumentError, match=r"'crop' paints no colour and takes no fill"):
        Crop(fill=(10, 20, 30))
    assert augment.standard(32).fill is None


def test_the_two_interval_classes_have_two_names():
    from dastat import probe
    from dastat.stats import intervals

    assert intervals.CoefficientInterval is not probe.Interval
    assert not hasattr(intervals, "Interval")  # no alias: one name per idea
    assert intervals.fisher_z(0.5, 10, 0.95).method == "fisher_z"


def test_t_stddev_names_the_statistic_and_the_field_only():
    from dastat import probe
    from dastat.probe import estimator

    assert not hasattr(probe, "t_stddev") and not hasattr(estimator, "t_stddev")
    means = torch.rand(5, 3, dtype=torch.float64)
    assert float(estimator.stddev_of_means(means)) > 0
