"""Every scheme: registry, call contract (dtype/shape/device/range), seed replay, bad input."""

import pytest
import torch

import dastat.augment as A
from dastat.augment import kernels
from dastat.errors import InvalidArgumentError, UnknownNameError

PAPER_SCHEMES = ["identity", "flip", "crop", "flip_crop", "cutout", "autoaugment", "mixup", "cutmix",
                 "cutmixpick_t", "cutmixpick_s"]


def _scorer(images):
    return images.float().mean((2, 3)) / 50  # logits [B, 3]: a tiny deterministic "network"


def _images(b=8, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, size, size), generator=g, dtype=torch.uint8)


def test_every_paper_scheme_is_registered():
    assert set(PAPER_SCHEMES) <= set(A.list_schemes())
    assert A.list_schemes("cutmix*") == ["cutmix", "cutmixpick_kl", "cutmixpick_s", "cutmixpick_t"]


@pytest.mark.parametrize("name", PAPER_SCHEMES)
@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("randomness", ["sample", "batch"])
def test_contract_and_seed_replay(name, size, randomness):
    scheme = A.get(name, image_size=size, randomness=randomness, fill=(120, 110, 100))
    x = _images(size=size)
    x_before = x.clone()
    scorer = _scorer if scheme.scorer else None
    y1 = scheme(x, generator=torch.Generator().manual_seed(11), scorer=scorer)
    y2 = scheme(x, generator=torch.Generator().manual_seed(11), scorer=scorer)
    assert torch.equal(x, x_before)  # the caller's batch is never written
    assert y1.dtype == torch.uint8 and y1.shape == x.shape and y1.device == x.device
    assert torch.equal(y1, y2)
    assert y1.data_ptr() != x.data_ptr()
    assert isinstance(scheme.hparams, dict) and scheme.hparams["randomness"] == randomness


def test_seed_argument_is_a_generator_shorthand():
    scheme = A.get("cutout")
    x = _images()
    assert torch.equal(scheme(x, generator=5), scheme(x, generator=torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("bad", [torch.rand(2, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.uint8),
                                 torch.zeros(2, 1, 8, 8, dtype=torch.uint8), "not a tensor"])
def test_bad_images_are_refused_with_the_expected_layout(bad):
    with pytest.raises(InvalidArgumentError, match=r"uint8 tensor \[B,3,H,W\]"):
        A.get("flip")(bad, generator=0)


@pytest.mark.parametrize("name", ["mixup", "cutmix", "cutmixpick_t"])
def test_mixing_schemes_need_two_images(name):
    with pytest.raises(InvalidArgumentError, match="at least 2"):
        A.get(name)(_images(b=1), generator=0, scorer=_scorer)


def test_unknown_scheme_suggests_close_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'cutmix'"):
        A.get("cutmx")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "cutout", "side": 0}, "side must be >= 1"),
    ({"name": "flip", "randomness": "epoch"}, "randomness must be one of"),
    ({"name": "cutout", "fill": (1, 2)}, "fill must be a uint8 RGB triple"),
    ({"name": "mixup", "alpha": -1.0}, "alpha"),
    ({"name": "flip", "side": 3}, "'flip' has no parameter 'side'"),
    ({"name": "cutmixpick_t", "keep": 1.5}, "keep"),
])
def test_bad_settings_name_the_argument(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        A.get(**kwargs)


def test_none_settings_keep_the_scheme_defaults():
    assert A.get("cutout", side=None).side == 8


def test_user_scheme_registers_with_one_decorator():
    @A.register("test_invert")
    class Invert(A.Scheme):
        def apply(self, images, params):
            return 255 - images

    x = _images()
    assert torch.equal(A.get("test_invert")(x, generator=0), 255 - x)
    assert "test_invert" in A.list_schemes()


def test_kernels_run_on_generator_device_tensors():
    x = _images(b=2)
    assert torch.equal(kernels.flip(x, torch.tensor([False, False])), x)


def test_torchvision_transform_wraps_as_a_reproducible_per_sample_scheme():
    from torchvision.transforms import v2

    scheme = A.from_transform(v2.RandomHorizontalFlip(p=0.5), name="tv_flip")
    x = _images(b=64)
    state = torch.random.get_rng_state()
    y = scheme(x, generator=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global stream did not move
    assert torch.equal(y, scheme(x, generator=3))
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    assert torch.all(flipped | (y == x).flatten(1).all(1))
    assert 0 < int(flipped.sum()) < 64  # per image, not one decision for the batch


def test_unit_range_transform_round_trips_to_uint8():
    scheme = A.from_transform(lambda t: 1 - t, per_sample=False, input_range="unit")
    x = _images()
    assert torch.equal(scheme(x, generator=0), 255 - x)


def test_wrapped_transform_must_keep_the_shape():
    scheme = A.from_transform(lambda t: t[:, :, :4], per_sample=False)
    with pytest.raises(InvalidArgumentError, match="shaped like its input"):
        scheme(_images(), generator=0)


@pytest.mark.gpu
@pytest.mark.parametrize("name", PAPER_SCHEMES)
def test_schemes_stay_on_the_gpu_and_replay(name):
    x = _images(size=32).cuda()
    scheme = A.get(name, fill=(120, 110, 100))
    scorer = _scorer if scheme.scorer else None
    y1 = scheme(x, generator=torch.Generator(device="cuda").manual_seed(2), scorer=scorer)
    y2 = scheme(x, generator=torch.Generator(device="cuda").manual_seed(2), scorer=scorer)
    assert y1.device == x.device and y1.dtype == torch.uint8 and y1.shape == x.shape
    assert torch.equal(y1, y2)
