"""Spelling of architectures and schemes as dastat knows them, whatever a log called them."""

from __future__ import annotations

import re

from dastat.checks import SCHEME_STAGE, split_outside_parentheses
from dastat.constants import PAPER_SCHEMES

# RepDistiller's CIFAR-100 zoo (docs/method.md, "Models and checkpoints"), spelt exactly as the zoo spells them.
ZOO_NAMES = (
    "resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
    "resnet8x4", "resnet32x4", "ResNet50", "wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2",
    "vgg8", "vgg11", "vgg13", "vgg16", "vgg19", "MobileNetV2", "ShuffleV1", "ShuffleV2",
)

# mdistiller's short names (its configs: res32x4, mv2, shuv1, ...).
_ARCH_ALIASES = {
    "res8": "resnet8", "res14": "resnet14", "res20": "resnet20", "res32": "resnet32",
    "res44": "resnet44", "res56": "resnet56", "res110": "resnet110", "res8x4": "resnet8x4",
    "res32x4": "resnet32x4", "res50": "ResNet50", "resnet50": "ResNet50", "mv2": "MobileNetV2",
    "mobilenetv2": "MobileNetV2", "mobilenet_v2": "MobileNetV2", "shuv1": "ShuffleV1",
    "shuv2": "ShuffleV2", "shufflenetv1": "ShuffleV1", "shufflenetv2": "ShuffleV2",
}

# dastat's built-in schemes: dastat.augment's registry holds the same names (tests/store/test_names.py).
SCHEME_NAMES = (*PAPER_SCHEMES, "crop", "randaugment", "cutmixpick_kl")

_SCHEME_ALIASES = {
    "none": "identity", "no_da": "identity", "noda": "identity", "same": "identity",
    "hflip": "flip", "horizontal_flip": "flip", "random_flip": "flip",
    "random_crop": "crop", "randomcrop": "crop",
    "crop+flip": "flip_crop", "flip+crop": "flip_crop", "cropflip": "flip_crop",
    "crop_flip": "flip_crop", "flipcrop": "flip_crop", "flip_crop": "flip_crop",
    "autoaug": "autoaugment", "auto_augment": "autoaugment", "aa": "autoaugment",
    "mix_up": "mixup", "cut_mix": "cutmix", "cut_out": "cutout",
}

# The reference code's --cutmix_pick_criterion values, and the suffixes of its project names.
_PICK_CRITERIA = {
    "teacher_entropy": "t", "t_entropy": "t", "tentropy": "t", "t": "t", "teacher": "t",
    "student_entropy": "s", "s_entropy": "s", "sentropy": "s", "s": "s", "student": "s",
}


def _fold(name: str) -> str:
    return re.sub(r"[-\s]+", "_", name.strip()).lower()


def normalise_arch(name: object) -> tuple[str | None, bool]:
    """The zoo's spelling of an architecture name.

    Parameters
    ----------
    name : str or None
        As a log wrote it (``wrn-40-2``, ``RESNET32X4``, ``res8x4``, ``mv2``).

    Returns
    -------
    (str or None, bool)
        The zoo name and True, or the name unchanged and False when it is not a zoo name
        (kept verbatim so nothing is lost; the ingest summary lists it).
    """
    if name is None or (isinstance(name, float) and name != name):
        return None, True
    text = str(name).strip()
    folded = _fold(text)
    for zoo in ZOO_NAMES:
        if zoo.lower() == folded:
            return zoo, True
    if folded in _ARCH_ALIASES:
        return _ARCH_ALIASES[folded], True
    return text, False


def normalise_scheme(name: object, criterion: object = None) -> tuple[str | None, bool]:
    """dastat's name for a data-augmentation scheme (docs/method.md, "Schemes").

    Parameters
    ----------
    name : str or None
        As a log wrote it: ``crop+flip``, ``Crop+Flip``, ``AutoAugment``, ``cutmix_pick``, ...
    criterion : str, optional
        The picking criterion of ``cutmix_pick`` (reference code: ``teacher_entropy`` or
        ``student_entropy``), which decides between ``cutmixpick_t`` and ``cutmixpick_s``.

    Returns
    -------
    (str or None, bool)
        The scheme name and True, or the name unchanged and False when unknown.
    """
    if name is None or (isinstance(name, float) and name != name):
        return None, True
    text = str(name).strip()
    folded = _fold(text)
    if folded in SCHEME_NAMES:
        return folded, True
    if folded in _SCHEME_ALIASES:  # before compositions: the reference code's "crop+flip" is flip_crop
        return _SCHEME_ALIASES[folded], True
    compact = re.sub(r"\s+", "", text)
    # A scheme with parameters or a composition, as dastat.augment spells it: cutout(side=4), flip_crop+cutout.
    stages = [SCHEME_STAGE.fullmatch(stage) for stage in split_outside_parentheses(compact, "+")]
    if all(stage and stage["scheme"] in SCHEME_NAMES for stage in stages):
        return compact, True
    pick = re.fullmatch(r"cut_?mix_?pick(?:_(?P<suffix>[a-z_]+))?", folded)
    if pick:
        key = _fold(str(criterion)) if criterion not in (None, "") else pick.group("suffix")
        side = _PICK_CRITERIA.get(key or "")
        if side:
            return f"cutmixpick_{side}", True
    return text, False
