"""What a study runs: teacher/student pairs, schemes, seeds, epochs and probe settings, by preset or YAML.

A study file (``dastat study --preset study.yaml``) names a preset and overrides any of its keys::

    preset: cifar100            # start from a preset (default: digits)
    root: /data                 # where the dataset lives (layouts: docs/method.md, "Data on disk")
    teacher_dir: save/models    # RepDistiller teachers: <arch>_vanilla/ckpt_epoch_240.pth
    epochs: 240
    seeds: [0, 1, 2]
    probe: {max_sets: 2000}     # dastat.probe.ProbeOptions fields
    probe_protocols: [fast, paper]
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dastat.constants import PAPER_SCHEMES, PROTOCOLS
from dastat.errors import ConfigError, DastatError, UnknownNameError
from dastat.probe.options import ProbeOptions
from dastat.study.plateau import window_start

# The paper's Figure 4 pairs (teacher -> student), on CIFAR-100 and Tiny ImageNet alike.
PAPER_PAIRS = ({"teacher": "wrn_40_2", "student": "wrn_16_2"}, {"teacher": "resnet56", "student": "resnet20"},
               {"teacher": "vgg13", "student": "vgg8"}, {"teacher": "ResNet50", "student": "vgg8"})


# StudyConfig.test_epochs: score the test split after every epoch, or only over the plateau rule's window.
TEST_EPOCHS = ("all", "plateau")


@dataclass(frozen=True)
class StudyConfig:
    """One study: every pair is distilled with every scheme and seed, and every teacher is probed.

    Attributes
    ----------
    name : str
        Names the output folder's figures and the report.
    data, root, image_size, data_options
        The dataset (``dastat.data.load`` arguments); the train split is probed and distilled on, the
        test split gives the students' test loss.
    train_images : int, optional
        Students distil on (and the probes read) a seeded class-stratified subsample of this many images
        of the train split; teachers train on the whole train split and the test split stays whole.
    pairs : tuple of dict
        ``{"teacher": arch, "student": arch}``, optionally ``"teacher_path"`` (a checkpoint).
    teacher_dir : str, optional
        Folder of RepDistiller teachers, ``<arch>_vanilla/ckpt_epoch_240.pth``; a teacher without a
        checkpoint is trained with :func:`dastat.train.fit` for ``teacher_epochs``.
    schemes, seeds, epochs, batch_size, lr
        The students' grid and recipe (docs/method.md, "KD recipe"; ``lr=None`` takes the recipe's default).
    methods : tuple of str
        Distillation methods of the students (``dastat.train.list_methods()``; default plain KD): every
        pair x method x scheme x seed is trained, and the report reads each method on its own.
    probe : ProbeOptions
        How T. stddev is estimated (:class:`dastat.probe.ProbeOptions`; its ``protocol`` is set from
        ``probe_protocols``).
    probe_protocols : tuple of str
        The protocols every teacher is probed with, each on its own (docs/method.md, "Protocols").
    test_epochs : {"all", "plateau"}
        After which epochs each student scores the test split: every one, or only the epochs the plateau
        rule reads (the last 20% and the one before, :mod:`dastat.study.plateau`), which is all the
        study's analysis reads; on a large test split that saves most of a short run's time.
    jobs : int
        Concurrent training jobs of the local executor.
    slurm : dict
        submitit ``update_parameters`` options for ``--executor slurm`` (e.g. ``{slurm_partition: gpu,
        gpus_per_node: 1, timeout_min: 600}``).
    """

    name: str = "digits"
    data: str = "digits"
    root: str | None = None
    image_size: int | None = None
    data_options: dict = field(default_factory=dict)
    train_images: int | None = None
    pairs: tuple[dict, ...] = ()
    teacher_dir: str | None = None
    teacher_epochs: int = 240
    teacher_lr: float = 0.05
    schemes: tuple[str, ...] = PAPER_SCHEMES
    seeds: tuple[int, ...] = (0, 1, 2)
    methods: tuple[str, ...] = ("kd",)
    epochs: int = 240
    batch_size: int = 64
    lr: float | None = None
    probe: ProbeOptions = field(default_factory=ProbeOptions)
    probe_protocols: tuple[str, ...] = ("fast",)
    test_epochs: str = "all"
    jobs: int = 1
    slurm: dict = field(default_factory=dict)
    checkpoint_every: int = 10
    quick: bool = False
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain types (YAML- and JSON-ready)."""
        out = asdict(self)
        out["pairs"] = [dict(p) for p in self.pairs]
        out["schemes"], out["seeds"], out["methods"] = list(self.schemes), list(self.seeds), list(self.methods)
        out["probe"] = {k: v for k, v in self.probe.to_dict().items() if k != "protocol"}
        out["probe_protocols"] = list(self.probe_protocols)
        return out

    @property
    def test_from(self) -> int:
        """The first epoch after which a student scores the test split (``test_epochs``)."""
        return 1 if self.test_epochs == "all" else window_start(self.epochs)


DIGITS_FEW_NOTES = (
    "Students distil on 100 of the 1,437 digits training images (10 per class, a seeded class-stratified "
    "subsample) for 150 epochs (2 batches an epoch, 300 SGD steps); the teachers train on the whole training "
    "split with the digits preset's recipe, the probes read the students' 100 images, and every student is "
    "tested on the whole test split (360 images). Few training images are where augmentation changes a student "
    "most, and a teacher trained on more labelled data than its student sees is a common distillation setting; "
    "the images stay real digits at the digits preset's 16 px. Chosen by pilots (results/studies/digits_few/"
    "pilot.txt): with resnet20 -> resnet8 the schemes did not move the students beyond seed noise at 500 images "
    "(blocked ANOVA p = 0.87) nor at 150 images and 60 steps (p = 0.56, undertrained), and did at 100 images "
    "and 300 steps (p = 0.007 with 5 schemes x 3 seeds)."
)

# docs/method.md, "Schemes": strength ladders around the paper's nine schemes, for a head-to-head of predictors
# that needs many schemes. Parameters are for the digits presets' 16 px, where cutout's default side is 4 and
# the crop's default pad 2.
DIGITS_LADDER_SCHEMES = (
    *PAPER_SCHEMES,
    "mixup(alpha=0.1)", "mixup(alpha=0.2)", "mixup(alpha=0.4)", "mixup(alpha=2)", "mixup(alpha=4)",
    "cutmix(alpha=0.25)", "cutmix(alpha=0.5)", "cutmix(alpha=2)", "cutmix(alpha=4)",
    "cutout(side=2)", "cutout(side=6)", "cutout(side=8)", "cutout(side=10)",
    "crop(pad=1)", "crop", "crop(pad=4)", "flip_crop(pad=4)",
    "autoaugment(policy=svhn)", "autoaugment(policy=imagenet)",
    "randaugment(m=5,n=1)", "randaugment", "randaugment(m=15)", "randaugment(m=20,n=3)",
    "flip_crop+cutout", "crop+cutout(side=8)", "flip_crop+randaugment",
)


# docs/method.md, "Testbed": MNIST across data regimes. One pair, its teacher trained on all 60,000 training
# images; the students distil on a class-stratified pool, one preset per pool size, so that each size is a
# study of its own (store, probes, blocked ANOVA, correlations, regret) and the sizes share the teacher.
# jobs=3: on the CPU the students train as one cohort per seed, so three seeds keep two cores busy to the end.
# Scoring the whole 10,000-image test split costs a student 2.05 CPU-s at 16 px (32 px: 9.7) against 0.098
# CPU-s per SGD step (32 px: 0.32), so at 100 images scoring every epoch would be 91% of the work: the students
# score it only over the plateau rule's window (test_epochs="plateau"), all the analysis reads, and at 16 px.
MNIST_PAIRS = ({"teacher": "resnet20", "student": "resnet8"},)
# Students' epochs by pool size (None: all 60,000): fewer epochs as the pool grows, more SGD steps
# (300, 960, 1,410 and 14,070).
MNIST_POOL_EPOCHS = {100: 150, 1000: 60, 3000: 30, None: 15}
MNIST_NOTES = (
    "MNIST (LeCun et al. 1998) at 16 px: the 28x28 digits padded to 32 px (docs/method.md, \"Data on disk\") and "
    "halved, a quarter of the compute, as the digits presets do. The teacher (resnet20) trains {teacher_epochs} "
    "epochs on all 60,000 training images; the students (resnet8) distil for {epochs} epochs ({steps} SGD steps) "
    "on {pool}; every student is tested on the whole test split (10,000 images) after each epoch of the last "
    "20% and the one before (from epoch {test_from}: the plateau rule's window, all the report reads). The "
    "mnist_100, mnist_1000, mnist_3000 and mnist_full presets differ only in the students' pool and epochs, so "
    "they share one teacher."
)


def _mnist(train_images: int | None) -> StudyConfig:
    name = "mnist_full" if train_images is None else f"mnist_{train_images}"
    epochs, teacher_epochs = MNIST_POOL_EPOCHS[train_images], 10
    images = 60_000 if train_images is None else train_images
    pool = ("all 60,000 training images" if train_images is None else
            f"a seeded class-stratified pool of {train_images:,} ({train_images // 10:,} a class), "
            "which the probes read")
    notes = MNIST_NOTES.format(teacher_epochs=teacher_epochs, pool=pool, epochs=epochs,
                               steps=f"{epochs * -(-images // 64):,}", test_from=window_start(epochs))
    return StudyConfig(name=name, data="mnist", image_size=16, train_images=train_images, pairs=MNIST_PAIRS,
                       teacher_epochs=teacher_epochs, epochs=epochs, seeds=(0, 1, 2), test_epochs="plateau",
                       probe=ProbeOptions(max_sets=200), checkpoint_every=10, jobs=3, notes=notes)


PRESETS: dict[str, StudyConfig] = {
    # Digits are 8x8 images: 16 px keeps every pixel of information and costs a quarter of 32 px on a
    # CPU. 30 student epochs (milestones 19/22/26) bring every student's test loss to its plateau: from
    # there on it only jitters with the batch-norm running statistics (see dastat.study.plateau).
    "digits": StudyConfig(
        name="digits", data="digits", image_size=16,
        pairs=({"teacher": "resnet20", "student": "resnet8"}, {"teacher": "wrn_16_2", "student": "wrn_16_1"}),
        teacher_epochs=20, epochs=30, seeds=(0, 1, 2), probe=ProbeOptions(max_sets=200), checkpoint_every=10,
        jobs=2,
        notes="Digits are 8x8 images: this study upsamples them to 16 px rather than 32 px (no information is "
        "lost, a quarter of the compute). Teachers train 20 epochs and students 30 (the paper's recipe with its "
        "milestones scaled to 19/22/26), so that the grid of 2 pairs x 9 schemes x 3 seeds fits in about an "
        "hour and a half on 2 CPU cores.",
    ),
    # docs/method.md, "Testbed": the digits pairs with students distilling on 10 images per class (100 of
    # the 1,437 training images, class-stratified); the notes say what its pilot found.
    "digits_few": StudyConfig(
        name="digits_few", data="digits", image_size=16, train_images=100,
        pairs=({"teacher": "resnet20", "student": "resnet8"}, {"teacher": "wrn_16_2", "student": "wrn_16_1"}),
        teacher_epochs=20, epochs=150, seeds=(0, 1, 2, 3, 4), probe=ProbeOptions(max_sets=200),
        checkpoint_every=10, jobs=2,
        notes=DIGITS_FEW_NOTES,
    ),
    # digits_few's pairs, images and recipe with 35 schemes (the paper's nine and their strength ladders) x 3 seeds.
    "digits_ladder": StudyConfig(
        name="digits_ladder", data="digits", image_size=16, train_images=100,
        pairs=({"teacher": "resnet20", "student": "resnet8"}, {"teacher": "wrn_16_2", "student": "wrn_16_1"}),
        teacher_epochs=20, epochs=150, seeds=(0, 1, 2), schemes=DIGITS_LADDER_SCHEMES,
        probe=ProbeOptions(max_sets=200), checkpoint_every=10, jobs=2,
        notes="digits_few's testbed (100 training images, 150 student epochs) with 35 schemes: the paper's nine, "
        "and ladders of mixup's and cutmix's alpha, cutout's side, the crop's pad, AutoAugment's policies and "
        "RandAugment's n and m, and three compositions, so that predictors can be told apart over many "
        "schemes.",
    ),
    "cifar100": StudyConfig(
        name="cifar100", data="cifar100", pairs=PAPER_PAIRS, teacher_epochs=240, epochs=240,
        probe=ProbeOptions(max_sets=2000),
    ),
    "tinyimagenet": StudyConfig(
        name="tinyimagenet", data="tinyimagenet", pairs=PAPER_PAIRS, teacher_epochs=240, epochs=240,
        probe=ProbeOptions(max_sets=2000),
    ),
    **{config.name: config for config in map(_mnist, MNIST_POOL_EPOCHS)},
}

# --quick: the same code path on a tiny grid (one pair, three schemes incl. the student-scored one,
# one seed, one epoch, a few probe sets), so that CI runs the whole pipeline in well under 2 minutes.
QUICK = {"pairs": 1, "schemes": ("identity", "cutmix", "cutmixpick_s"), "seeds": (0,), "epochs": 1, "jobs": 1,
         "teacher_epochs": 1, "probe": {"max_sets": 4, "min_sets": 2, "epochs": 1}}


def list_presets() -> list[str]:
    """Names accepted by ``--preset`` (besides a YAML file)."""
    return sorted(PRESETS)


def _with_overrides(base: StudyConfig, overrides: dict[str, Any], where: str) -> StudyConfig:
    known = {f.name for f in fields(StudyConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    values = dict(overrides)
    if "probe" in values:
        probe = values["probe"] or {}
        if not isinstance(probe, dict):
            raise ConfigError(f"{where}: probe must be a mapping (max_sets:, rtol:, ...); got {probe!r}")
        for key in {"protocol", "protocols"} & set(probe):
            raise ConfigError(f"{where}: a study probes with each protocol of its own key probe_protocols: give "
                              f"probe_protocols: [fast, paper] (or one of them) instead of probe: {{{key}: ...}}")
        try:
            values["probe"] = base.probe.updated(**probe)
        except DastatError as err:
            raise ConfigError(f"{where}: probe: {err}") from None
    for key in ("schemes", "seeds", "methods", "probe_protocols"):
        if key in values:
            values[key] = tuple(values[key])
    if "pairs" in values:
        values["pairs"] = tuple(dict(p) for p in values["pairs"])
    return _checked(replace(base, **values), where)


def _checked_schemes(config: StudyConfig, where: str) -> tuple[str, ...]:
    """The schemes in their canonical spelling, each built once so that a bad value fails before any work."""
    from dastat import augment

    if not config.schemes or not all(isinstance(s, str) for s in config.schemes):
        raise ConfigError(f"{where}: schemes must be a non-empty list of scheme names; got {list(config.schemes)}")
    try:
        names = tuple(augment.get(s, image_size=config.image_size or 32).name for s in config.schemes)
    except DastatError as err:
        raise ConfigError(f"{where}: {err}") from None
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}: schemes {twice} are listed twice (perhaps in two spellings of one scheme)")
    return names


def _checked(config: StudyConfig, where: str) -> StudyConfig:
    if not config.pairs or not all(isinstance(p, dict) and "teacher" in p and "student" in p
                                   for p in config.pairs):
        raise ConfigError(f"{where}: pairs must be a non-empty list of {{teacher: ARCH, student: ARCH}}")
    config = replace(config, schemes=_checked_schemes(config, where))
    from dastat.train.methods import list_methods

    bad = [m for m in config.methods if m not in list_methods()]
    if bad or not config.methods:
        raise ConfigError(f"{where}: methods must be a non-empty list from {list(list_methods())}; "
                          f"got {list(config.methods)}")
    bad = [p for p in config.probe_protocols if p not in PROTOCOLS]
    if bad or not config.probe_protocols:
        raise ConfigError(f"{where}: probe_protocols must be chosen from {list(PROTOCOLS)}; got "
                          f"{list(config.probe_protocols)}")
    if not config.seeds or not all(isinstance(s, int) and s >= 0 for s in config.seeds):
        raise ConfigError(f"{where}: seeds must be a non-empty list of ints >= 0; got {list(config.seeds)}")
    if config.test_epochs not in TEST_EPOCHS:
        raise ConfigError(f"{where}: test_epochs must be one of {list(TEST_EPOCHS)}; got {config.test_epochs!r}")
    for key in ("epochs", "teacher_epochs", "batch_size", "jobs", "checkpoint_every"):
        value = getattr(config, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{where}: {key} must be an int >= 1; got {value!r}")
    if config.train_images is not None and (not isinstance(config.train_images, int)
                                            or isinstance(config.train_images, bool) or config.train_images < 1):
        raise ConfigError(f"{where}: train_images must be an int >= 1 (or null: the whole train split); "
                          f"got {config.train_images!r}")
    return config


def load_config(preset: str | Path = "digits", *, quick: bool = False, **overrides) -> StudyConfig:
    """The configuration of a preset or a study YAML file, with overrides and ``--quick`` applied.

    Parameters
    ----------
    preset : str or Path
        ``digits``, ``cifar100``, ``tinyimagenet`` (see :func:`list_presets`), or a YAML file whose
        ``preset:`` key (default ``digits``) is the base and whose other keys override it.
    quick : bool
        Shrink the grid to the CI size (one pair, 3 schemes, 1 seed, 1 epoch, a few probe sets);
        keys the YAML file or ``overrides`` set explicitly still win.
    **overrides
        Keys of :class:`StudyConfig` (``None`` values are ignored, so unset CLI flags change nothing).

    Raises
    ------
    UnknownNameError
        An unknown preset name.
    ConfigError
        An unreadable file or a bad key or value.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    file_values: dict[str, Any] = {}
    name = str(preset)
    if name.endswith((".yaml", ".yml")) or Path(name).is_file():
        from dastat.yamlfile import read_yaml

        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"study file {path} does not exist; give a preset ({', '.join(list_presets())}) "
                              "or an existing YAML file")
        file_values = read_yaml(path, "study file") or {}
        if not isinstance(file_values, dict):
            raise ConfigError(f"study file {path} must hold a mapping (preset:, pairs:, epochs:, ...)")
        file_values = dict(file_values)
        name = str(file_values.pop("preset", "digits"))
    if name not in PRESETS:
        raise UnknownNameError("preset", name, PRESETS)
    config = PRESETS[name]
    if quick:
        shrink = copy.deepcopy(QUICK)
        shrink["pairs"] = config.pairs[: shrink["pairs"]]
        config = _with_overrides(config, {**shrink, "quick": True}, "--quick")
    if file_values:
        config = _with_overrides(config, file_values, f"study file {preset}")
    if overrides:
        config = _with_overrides(config, overrides, "options")
    return config


__all__ = ["PAPER_PAIRS", "PRESETS", "StudyConfig", "list_presets", "load_config"]
