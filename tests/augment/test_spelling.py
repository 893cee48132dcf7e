"""Scheme names with parameters and compositions: one parser, one canonical spelling (docs/method.md, "Schemes")."""

from pathlib import Path

import pytest
import torch

import dastat.augment as A
from dastat.augment.compose import Compose
from dastat.augment.cutout import Cutout
from dastat.augment.mixing import Mixup
from dastat.errors import InvalidArgumentError, UnknownNameError


def _images(b=16, size=16, seed=0):
    return torch.randint(0, 256, (b, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize(("written", "canonical"), [
    ("mixup", "mixup"),
    ("mixup(alpha=0.2)", "mixup(alpha=0.2)"),
    (" mixup ( alpha = 0.20 ) ", "mixup(alpha=0.2)"),
    ("mixup(alpha=1)", "mixup"),  # the declared default is dropped
    ("mixup(alpha=1.0)", "mixup"),
    ("cutmix(alpha=2.0)", "cutmix(alpha=2)"),  # numbers written shortest
    ("randaugment(n=2,m=9)", "randaugment"),
    ("randaugment(n=3, m=5)", "randaugment(m=5,n=3)"),  # parameters sorted
    ("cutout(side=4)", "cutout(side=4)"),  # a size-dependent default (None) is never dropped
    ("autoaugment(policy=svhn)", "autoaugment(policy=svhn)"),
    ("flip_crop+cutout(side=4)", "flip_crop+cutout(side=4)"),
    ("cutout(side=4)+flip_crop", "cutout(side=4)+flip_crop"),  # stages keep their order
    ("cutmixpick_t(alpha=0.5)", "cutmixpick_t(alpha=0.5)"),
])
def test_one_canonical_spelling_that_get_gives_the_scheme(written, canonical):
    assert A.canonical(written) == canonical
    assert A.get(written).name == canonical
    assert A.canonical(canonical) == canonical


def test_parameters_reach_the_scheme_and_its_record():
    scheme = A.get("mixup(alpha=0.2)", image_size=16)
    assert isinstance(scheme, Mixup) and scheme.alpha == 0.2 and scheme.hparams["alpha"] == 0.2
    # the same draws as the class built directly: parsing changes nothing but the name
    x = _images()
    direct = Mixup(alpha=0.2, image_size=16)
    assert torch.equal(scheme(x, generator=5), direct(x, generator=5))
    assert A.get("cutout", side=4).name == "cutout(side=4)"  # parameters given apart from the name join it
    assert A.get("cutout(side=4)", side=4).name == "cutout(side=4)"


@pytest.mark.parametrize(("name", "kwargs", "error", "match"), [
    ("mixpu", {}, UnknownNameError, "Did you mean 'mixup'"),
    ("mixup(alpha=0.2)+flipp", {}, UnknownNameError, "Did you mean 'flip'"),
    ("cutmix(beta=2)", {}, InvalidArgumentError, "no parameter 'beta'.*Did you mean 'alpha'"),
    ("cutout(size=4)", {}, InvalidArgumentError, "no parameter 'size'.*Did you mean 'side'"),
    ("randaugment(num_ops=2)", {}, InvalidArgumentError, "Did you mean 'n'"),
    ("mixup(alpha=-1)", {}, InvalidArgumentError, r"scheme 'mixup\(alpha=-1\)': alpha must be in \(0, inf\)"),
    ("mixup(alpha=big)", {}, InvalidArgumentError, "alpha must be a finite number"),
    ("mixup(alpha=inf)", {}, InvalidArgumentError, "not a finite number"),
    ("cutout(side=2.5)", {}, InvalidArgumentError, "side must be an integer"),
    ("autoaugment(policy=mnist)", {}, InvalidArgumentError, "policy must be one of"),
    ("mixup(alpha=1,alpha=2)", {}, InvalidArgumentError, "sets alpha twice"),
    ("mixup(alpha)", {}, InvalidArgumentError, "is not key=value"),
    ("mixup(alpha=0.2", {}, InvalidArgumentError, "cannot read the scheme"),
    ("mixup(alpha=a/b)", {}, InvalidArgumentError, "cannot read the value"),
    ("", {}, InvalidArgumentError, "non-empty string"),
    ("cutout(image_size=8)", {}, InvalidArgumentError, "setting of the whole run"),
    ("cutout(fill=3)", {}, InvalidArgumentError, "setting of the whole run"),
    ("cutout(side=4)", {"side": 6}, InvalidArgumentError, "set each once"),
    ("flip+cutout", {"side": 6}, InvalidArgumentError, "apply to one scheme"),
    ("mixup+flip+cutmix", {}, InvalidArgumentError, "'mixup' and 'cutmix' both mix images"),
    ("flip+cutmixpick_t", {}, InvalidArgumentError, "picks images from a pool"),
])
def test_bad_names_say_what_is_wrong(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        A.get(name, **kwargs)


def test_split_names_keeps_commas_inside_parentheses():
    assert A.split_names("mixup, randaugment(n=2,m=9) ,,flip_crop+cutout(side=4)") == [
        "mixup", "randaugment(n=2,m=9)", "flip_crop+cutout(side=4)"]


def test_registered_names_are_words():
    with pytest.raises(InvalidArgumentError, match="letters, digits and '_'"):
        A.register("my-scheme")


def test_a_composition_applies_its_stages_in_turn_with_one_generator():
    x = _images(32, 16)
    scheme = A.get("flip_crop+cutout(side=6)", image_size=16, fill=(9, 8, 7))
    assert isinstance(scheme, Compose) and [s.name for s in scheme.stages] == ["flip_crop", "cutout(side=6)"]
    assert scheme.stages[0].fill is None and scheme.stages[1].fill == (9, 8, 7)  # the fill goes where it paints
    assert scheme.hparams["stages"] == ["flip_crop", "cutout(side=6)"]
    g, h = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    out, params = scheme(x, generator=g, return_params=True)
    crop = A.get("flip_crop", image_size=16)
    hole = Cutout(side=6, image_size=16, fill=(9, 8, 7))
    assert torch.equal(out, hole(crop(x, generator=h), generator=h))
    assert len(params.stages) == 2 and out.dtype == torch.uint8 and out.shape == x.shape
    # per image: the stages' draws differ from image to image
    assert len(set(params.stages[1].cy.tolist())) > 4


def test_a_composition_takes_batch_randomness_to_every_stage():
    scheme = A.get("crop+cutout", image_size=16, randomness="batch")
    assert all(stage.randomness == "batch" for stage in scheme.stages)
    _, params = scheme(_images(), generator=1, return_params=True)
    assert len(set(params.stages[0].top.tolist())) == 1 and len(set(params.stages[1].cy.tolist())) == 1


def test_probes_trainer_and_jobs_file_a_scheme_under_its_canonical_name(tmp_path):
    from dastat import data, models, probe
    from dastat.runs import probe_jobs, training_jobs
    from dastat.train.distill import scheme_of

    ds = data.load("synthetic", num_classes=4, num_images=32, image_size=16, seed=0)
    teacher = models.wrap(models.create("resnet8", num_classes=4, image_size=16), ds.mean, ds.std, arch="resnet8")
    fast = dict(max_sets=3, min_sets=3, check_every=3, rtol=1e-9, device="cpu", batch_size=8, set_blocks=2)
    written = ["mixup(alpha=0.20)", "randaugment(n=2, m=9)", "flip_crop + cutout(side=6)", "cutmixpick_t(alpha=2)"]
    want = ["mixup(alpha=0.2)", "randaugment", "flip_crop+cutout(side=6)", "cutmixpick_t(alpha=2)"]
    ranking = probe.rank(teacher, ds, written, **fast)
    assert [r.scheme for r in ranking.results] == want and sorted(ranking.table["scheme"]) == sorted(want)
    assert ranking.results[0].scheme_params["alpha"] == 0.2
    paper = probe.measure_scheme(teacher, ds, "cutmixpick_t(alpha=2)", protocol="paper", epochs=2, device="cpu",
                                 batch_size=8, set_blocks=2)
    assert paper.scheme == "cutmixpick_t(alpha=2)"  # the paper protocol's keep_count stays out of the name
    assert scheme_of(written[0], ds, teacher).name == want[0]
    jobs = training_jobs([("t.pt", "resnet8")], written, [0], dataset="synthetic", out=tmp_path)
    assert [j.scheme for j in jobs] == want and all(Path(j.out_dir).name.count(want[i]) for i, j in enumerate(jobs))
    assert [j.scheme for j in probe_jobs(["t.pt"], written, [0], dataset="synthetic")] == want
