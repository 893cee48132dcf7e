"""train_images: students distil on a stratified part of the train split; teachers and the test split stay whole."""

from __future__ import annotations

import pytest

from dastat import runs
from dastat.errors import ConfigError
from dastat.runs import executors
from dastat.study import load_config
from dastat.study.pipeline import _plan


def test_train_images_reaches_the_jobs_as_a_train_only_option(tmp_path):
    config = load_config("digits", quick=True, train_images=150)
    plan = _plan(config, [("t.pt", "resnet8")], ["identity"], [0], out=tmp_path, device="cpu")
    assert [(j.train_options, j.data_options) for j in plan.jobs] == [({"max_images": 150}, {})]
    whole = _plan(load_config("digits", quick=True), [("t.pt", "resnet8")], ["identity"], [0], out=tmp_path,
                  device="cpu")
    assert whole.jobs[0].train_options == {}


def test_digits_few_is_the_digits_grid_on_100_training_images_with_five_seeds():
    config = load_config("digits_few")
    assert config.train_images == 100 and config.seeds == (0, 1, 2, 3, 4) and len(config.schemes) == 9
    assert config.epochs == 150  # 2 batches an epoch: 300 SGD steps
    assert [p["teacher"] for p in config.pairs] == [p["teacher"] for p in load_config("digits").pairs]
    assert "pilot" in config.notes.lower()


@pytest.mark.parametrize("value", [0, -3, 1.5, True, "150"])
def test_bad_train_images_are_refused(value):
    with pytest.raises(ConfigError, match="train_images must be an int >= 1"):
        load_config("digits", train_images=value)


def test_jobs_load_the_train_split_subsampled_and_the_test_split_whole(monkeypatch):
    calls = []

    def fake_load(name, **kwargs):
        calls.append(kwargs)
        raise ConfigError("stop here")  # what the job loads is all this test asks

    monkeypatch.setattr("dastat.data.load", fake_load)
    jobs = runs.expand({"pairs": [{"teacher": "embedded", "student": "resnet8"}], "schemes": ["flip", "cutmix"],
                         "seeds": [0], "epochs": 1, "train_options": {"max_images": 40}})
    assert all(j.train_options == {"max_images": 40} for j in jobs)
    assert len(runs.plan_cohorts(jobs)) == 1  # same subsample: one cohort
    assert runs.run_job(jobs[0])["status"] == "failed" and calls[-1] == {
        "root": None, "split": "train", "image_size": None, "max_images": 40}
    calls.clear()

    def load_train(name, **kwargs):
        calls.append(kwargs)
        if kwargs["split"] == "test":
            raise ConfigError("stop here")
        from dastat.data import loading

        return loading.load("synthetic", split="train", num_classes=4, num_images=24)

    monkeypatch.setattr("dastat.data.load", load_train)
    monkeypatch.setattr(executors, "_load_teacher", lambda job, train_set: None)
    runs.run_job(jobs[0])
    assert [c["split"] for c in calls] == ["train", "test"] and "max_images" not in calls[1]
