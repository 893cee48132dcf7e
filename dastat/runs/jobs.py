"""The typed job and plan: what one unit of work is, and the grid of them a sweep file describes.

A sweep file::

    data: digits                  # dataset name; `root:` for datasets on disk, `data_options:` for
                                  # dataset keywords (synthetic: num_classes, num_images)
    train_options: {max_images: 180}  # load keywords of the train split only (the test split stays whole)
    pairs:                        # teacher checkpoint (or "embedded") and student architecture
      - {teacher: embedded, student: resnet8}
    schemes: [identity, cutmix]
    methods: [kd, crd]            # distillation methods (default [kd]); `method_options: {crd: {nce_k: 4096}}`
    seeds: [0, 1]
    epoch_factors: [1]            # or `epochs: 2` for short runs
    out: runs/sweep               # one run directory per training job
    cohort_size: 8                # optional: at most this many students trained together per process
    slurm: {slurm_partition: gpu} # optional: submitit's update_parameters for the slurm executor
    probe:                        # optional: T. stddev of each (teacher, scheme, seed)
      schemes: [identity, cutmix]
      seeds: [0]
      protocol: fast

expands to ``pairs x methods x schemes x seeds x epoch_factors`` training jobs plus ``teachers x probe schemes x
probe seeds`` probe jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dastat.augment import canonical
from dastat.errors import ConfigError

_KNOWN_KEYS = {"data", "data_options", "root", "image_size", "pairs", "schemes", "seeds", "epoch_factors", "epochs",
               "batch_size", "lr", "device", "amp", "out", "checkpoint_every", "test_from", "probe", "slurm", "methods",
               "method_options", "cohort_size", "train_options"}
# The sweep file's keys that are options of the trainer, passed to every training job as they are.
TRAIN_OPTIONS = ("batch_size", "lr", "device", "amp", "checkpoint_every", "test_from")


@dataclass(frozen=True)
class Job:
    """One unit of work: a training run (``kind="train"``) or a probe (``kind="probe"``).

    ``options`` are the trainer's keywords for a training job and the probe's (``protocol``, ``device``, ...)
    for a probe job. ``store`` is the results store's path the job records to (None: not recorded);
    ``teacher_checksum``, when known, spares the "already done?" check hashing the teacher's file.
    """

    kind: str
    teacher: str
    dataset: str
    scheme: str
    seed: int
    student: str | None = None
    epoch_factor: float = 1.0
    epochs: int | None = None
    root: str | None = None
    image_size: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    train_options: dict[str, Any] = field(default_factory=dict)  # data.load keywords of the train split only
    out_dir: str | None = None
    store: str | None = None
    method: str = "kd"
    method_options: dict[str, Any] = field(default_factory=dict)
    teacher_checksum: str | None = None

    @property
    def name(self) -> str:
        path = Path(self.teacher)
        teacher = self.teacher if self.teacher == "embedded" else (path.parent.name or path.stem)
        if self.kind == "probe":
            return f"probe:{teacher}:{self.dataset}:{self.scheme}:s{self.seed}"
        length = f"e{self.epochs}" if self.epochs else f"k{self.epoch_factor:g}"
        method = "" if self.method == "kd" else f":{self.method}"  # plain KD keeps its names and run directories
        return f"train:{teacher}-{self.student}:{self.dataset}:{self.scheme}:s{self.seed}:{length}{method}"


@dataclass(frozen=True)
class Plan:
    """Jobs to run and how: ``out`` holds the executors' logs (``out/submitit``), ``slurm`` submitit's
    ``update_parameters`` options, ``cohort_size`` the most training jobs one process trains together
    (None: as many as fit the device's free memory; 1: each alone)."""

    jobs: tuple[Job, ...]
    out: Path = Path("runs/sweep")
    slurm: dict[str, Any] = field(default_factory=dict)
    cohort_size: int | None = None


def training_jobs(pairs: Iterable[tuple[str, str]], schemes: Sequence[str], seeds: Sequence[int], *, dataset: str,
                  out: str | Path, methods: Sequence[str] = ("kd",),
                  method_options: dict[str, dict[str, Any]] | None = None, epoch_factors: Sequence[float] = (1,),
                  epochs: int | None = None, root: str | None = None, image_size: int | None = None,
                  data_options: dict[str, Any] | None = None, train_options: dict[str, Any] | None = None,
                  options: dict[str, Any] | None = None) -> list[Job]:
    """The training jobs ``(teacher, student) pairs x methods x schemes x seeds x epoch_factors``, each with its
    run directory under ``out``; ``train_options`` are load keywords of the train split only (the test split
    stays whole), e.g. ``{"max_images": 500}``."""
    common = {"dataset": dataset, "root": root, "image_size": image_size, "data_options": dict(data_options or {}),
              "train_options": dict(train_options or {}), "options": dict(options or {}), "epochs": epochs}
    method_options = method_options or {}
    jobs = []
    for teacher, student in pairs:
        for method in methods:
            for scheme in map(canonical, schemes):  # one spelling: what the trainer records
                for seed in seeds:
                    for factor in epoch_factors:
                        job = Job("train", str(teacher), scheme=scheme, seed=int(seed), student=str(student),
                                  epoch_factor=float(factor), method=str(method),
                                  method_options=dict(method_options.get(method) or {}), **common)
                        jobs.append(replace(job, out_dir=str(Path(out) / job.name.split(":", 1)[1].replace(":", "_"))))
    return jobs


def probe_jobs(teachers: Iterable[str], schemes: Sequence[str], seeds: Sequence[int], *, dataset: str,
               options: dict[str, Any] | None = None, root: str | None = None, image_size: int | None = None,
               data_options: dict[str, Any] | None = None, train_options: dict[str, Any] | None = None) -> list[Job]:
    """The probe jobs ``teachers x schemes x seeds``; ``options`` are the probe's (``protocol``, ``device``, ...),
    ``train_options`` the load keywords of the train split the probe reads (as its students' jobs)."""
    common = {"dataset": dataset, "root": root, "image_size": image_size, "data_options": dict(data_options or {}),
              "train_options": dict(train_options or {}), "options": dict(options or {})}
    return [Job("probe", str(teacher), scheme=canonical(scheme), seed=int(seed), **common)
            for teacher in teachers for scheme in schemes for seed in seeds]


def load_sweep(path: str | Path) -> dict[str, Any]:
    """Read and check a sweep file."""
    from dastat.yamlfile import read_yaml

    path = Path(path)
    config = read_yaml(path, "sweep file")
    if not isinstance(config, dict):
        raise ConfigError(f"sweep file {path} must hold a mapping (data:, pairs:, schemes:, ...)")
    unknown = set(config) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(f"sweep file {path}: unknown keys {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}")
    pairs = config.get("pairs") or []
    if not isinstance(pairs, list) or not all(isinstance(p, dict) and "teacher" in p for p in pairs):
        raise ConfigError(f"sweep file {path}: pairs must be a list of {{teacher: PATH|embedded, student: NAME}}")
    methods = config.get("methods", ["kd"])
    if not isinstance(methods, list) or not methods:
        raise ConfigError(f"sweep file {path}: methods must be a list of method names, e.g. [kd, crd]")
    from dastat.train.methods import get_method

    for method in methods:
        get_method(str(method))  # an unknown name fails here, naming the close ones, not in every job
    if not pairs and not config.get("probe"):
        raise ConfigError(f"sweep file {path} defines no jobs: give pairs: (training) and/or probe:")
    return config


def plan_sweep(config: dict[str, Any] | str | Path) -> Plan:
    """The plan of a sweep configuration (a mapping as :func:`load_sweep` returns, or its file): training jobs
    first, then probe jobs."""
    if not isinstance(config, dict):
        config = load_sweep(config)
    data = {"dataset": config.get("data", "digits"), "root": config.get("root"),
            "image_size": config.get("image_size"), "data_options": config.get("data_options"),
            "train_options": config.get("train_options")}
    pairs = [(str(p["teacher"]), str(p.get("student", "resnet8"))) for p in config.get("pairs") or []]
    schemes = config.get("schemes", ["identity"])
    jobs = training_jobs(pairs, schemes, config.get("seeds", [0]), out=config.get("out", "runs/sweep"),
                         methods=config.get("methods", ["kd"]), method_options=config.get("method_options"),
                         epoch_factors=config.get("epoch_factors", [1]), epochs=config.get("epochs"),
                         options={k: config[k] for k in TRAIN_OPTIONS if k in config}, **data)
    probe = config.get("probe") or {}
    if probe:
        teachers = probe.get("teachers") or sorted({t for t, _ in pairs}) or ["embedded"]
        options = {k: v for k, v in probe.items() if k not in ("schemes", "seeds", "teachers")}
        options.setdefault("device", config.get("device", "auto"))
        jobs += probe_jobs(teachers, probe.get("schemes", schemes), probe.get("seeds", [0]), options=options, **data)
    return Plan(tuple(jobs), out=Path(config.get("out", "runs/sweep")), slurm=dict(config.get("slurm") or {}),
                cohort_size=config.get("cohort_size"))


def expand(config: dict[str, Any] | str | Path) -> list[Job]:
    """The jobs of a sweep configuration, training jobs first (``plan_sweep(config).jobs``)."""
    return list(plan_sweep(config).jobs)
