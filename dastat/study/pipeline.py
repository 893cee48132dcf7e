"""``run_study``: teacher -> T. stddev of every scheme -> students for every scheme x seed -> statistics -> report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dastat.checks import check_choice
from dastat.constants import EXECUTORS
from dastat.errors import InvalidArgumentError
from dastat.jsonable import json_ready
from dastat.runs import Plan, probe_jobs, record_probes, run_plan, split_done, training_jobs
from dastat.study.analysis import StudyAnalysis, analyse
from dastat.study.config import StudyConfig
from dastat.study.teachers import TeacherInfo, obtain_teacher

STORE_NAME = "dastat.sqlite"


@dataclass
class StudyResult:
    """What :func:`run_study` did and found; everything is also written under ``out``."""

    out: Path
    config: StudyConfig
    teachers: list[TeacherInfo]
    analysis: StudyAnalysis
    report: Path
    elapsed_s: float
    stage_s: dict[str, float] = field(default_factory=dict)
    failed: list[dict] = field(default_factory=list)
    skipped_jobs: int = 0
    ran_jobs: int = 0
    num_classes: int | None = None  # of the study's dataset: the report reads teacher accuracy against chance
    probe_images: int | None = None  # the pool the probes draw from (the report flags a small one)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: paths, timings, the per-pair correlations and the selection."""
        return {
            "out": str(self.out),
            "report": str(self.report),
            "store": str(self.out / STORE_NAME),
            "elapsed_s": self.elapsed_s,
            "stage_s": self.stage_s,
            "config": self.config.to_dict(),
            "teachers": [t.to_dict() for t in self.teachers],
            "jobs_ran": self.ran_jobs,
            "jobs_skipped": self.skipped_jobs,
            "failed": self.failed,
            "correlations": self.analysis.correlations.to_dict(orient="records"),
            "selection": self.analysis.selection.to_dict() if self.analysis.selection is not None else None,
        }


def _plan(config: StudyConfig, pairs: list[tuple[str, str]], schemes, seeds, *, out: Path, device: str,
          methods=None, cohort_size: int | None = None) -> Plan:
    """The study's training jobs for ``pairs`` x schemes x seeds, run directories under ``out/runs``."""
    options: dict[str, Any] = {"batch_size": config.batch_size, "device": device,
                               "checkpoint_every": config.checkpoint_every, "test_from": config.test_from}
    if config.lr is not None:
        options["lr"] = config.lr
    jobs = training_jobs(pairs, list(schemes), list(seeds), dataset=config.data, out=out / "runs",
                         methods=list(config.methods if methods is None else methods), epochs=config.epochs,
                         root=config.root, image_size=config.image_size, data_options=config.data_options,
                         train_options=None if config.train_images is None else {"max_images": config.train_images},
                         options=options)
    return Plan(tuple(jobs), out=out / "runs", slurm=dict(config.slurm or {}), cohort_size=cohort_size)


def _scorer_student(config: StudyConfig, pair: dict, teacher_path: str, *, out: Path, device: str,
                    executor: str, store_path: Path, train_set, summary: dict):
    """The plain-KD (identity) student of ``pair``, first seed: the scorer of ``cutmixpick_s`` probes.

    It is one job of the main grid, so the grid later skips it.
    """
    from dastat import models

    plan = _plan(config, [(teacher_path, pair["student"])], ["identity"], [config.seeds[0]], out=out, device=device,
                 methods=["kd"])
    outcome = run_plan(plan, executor=executor, store=store_path)
    _tally(summary, outcome)
    if outcome["failed"]:
        raise InvalidArgumentError(f"the plain-KD scorer student for cutmixpick_s failed: "
                                   f"{outcome['failed'][0]['error']}")
    return models.load_student(Path(plan.jobs[0].out_dir) / "student.pt", dataset=train_set, device="cpu")


def _student_scored(config: StudyConfig) -> list[str]:
    """The schemes whose picking the student scores (``cutmixpick_s``, ``cutmixpick_kl``, with any parameters)."""
    from dastat import augment

    return [s for s in config.schemes if augment.get(s, image_size=config.image_size or 32).scorer
            not in (None, "teacher")]


def _tally(summary: dict, outcome: dict) -> None:
    summary["ran"] += len(outcome["ok"]) + len(outcome["failed"])
    summary["skipped"] += len(outcome["skipped"])
    summary["failed"].extend(outcome["failed"])


def _probe_teacher(config: StudyConfig, info: TeacherInfo, teacher, *, train_set, store, scorer, device: str,
                   progress: bool) -> int:
    """Rank every scheme for one teacher (each protocol asked for); skips what the store holds."""
    from dastat import probe

    unscorable = [] if scorer is not None else _student_scored(config)
    schemes = [s for s in config.schemes if s not in unscorable]
    written = 0
    for protocol in config.probe_protocols:
        wanted = [replace(job, teacher_checksum=teacher.checksum)
                  for job in probe_jobs([info.path], schemes, [config.probe.seed], dataset=train_set.name,
                                        options={"protocol": protocol})]
        if not split_done(wanted, store)[0]:
            continue
        results = probe.rank(teacher, train_set, schemes, config.probe.updated(protocol=protocol), student=scorer,
                             device=device, progress=progress).results
        written += record_probes(store, results)
    return written


def run_study(config: StudyConfig, out: str | Path, *, executor: str = "local", device: str = "auto",
              progress: bool = False, log: Callable[[str], None] | None = None,
              cohort_size: int | None = None) -> StudyResult:
    """Run a study end to end and write its outputs under ``out``.

    1. Teachers: given (``teacher_path``), found in ``teacher_dir`` (RepDistiller layout) or trained
       with :func:`dastat.train.fit`.
    2. Students for ``cutmixpick_s`` probes: the plain-KD (identity) student of each teacher's first
       pair, first seed.
    3. T. stddev of every scheme per teacher (:func:`dastat.probe.rank`, common random numbers) for
       each protocol asked for.
    4. Students for every pair x scheme x seed through the runs layer
       (:func:`dastat.runs.run_plan`), the students of one pair trained together as cohorts:
       finished runs are skipped on a re-run; ``slurm`` sends each cohort to a cluster.
    5. Correlations per pair (scheme means, and with the runs' noise), pooled models, the selection
       table, the Figure-4 grid and ``report.md``.

    Everything goes into the study's own store, ``out/dastat.sqlite``, and CSV exports beside it.

    Parameters
    ----------
    config : StudyConfig
        From :func:`dastat.study.load_config`.
    out : str or Path
        Output folder (created); re-running into the same folder resumes.
    executor : {"local", "slurm", "submitit-local", "debug"}
        Where the students are trained (see :func:`dastat.runs.run_plan`).
    device : str
        ``auto``, ``cpu`` or ``cuda[:N]`` for teachers, probes and students.
    progress : bool
        Progress bars for the teacher training and the probes.
    log : callable, optional
        Called with one line per finished stage.
    cohort_size : int, optional
        Students of one pair trained together per process (see :func:`dastat.runs.run_plan`);
        1 trains each alone. Default: as many as fit the device's free memory.

    Returns
    -------
    StudyResult
    """
    from dastat import data, models
    from dastat import store as store_mod
    from dastat.study.report import write_report

    executor = check_choice(executor, "executor", EXECUTORS)
    if not isinstance(config, StudyConfig):
        raise InvalidArgumentError(f"config must be a StudyConfig (dastat.study.load_config); got "
                                   f"{type(config).__name__}")
    say = log or (lambda line: None)
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_config(config, out)
    store_path = out / STORE_NAME
    store = store_mod.open(store_path)
    stage_s: dict[str, float] = {}
    summary: dict[str, Any] = {"ran": 0, "skipped": 0, "failed": []}

    t0 = time.perf_counter()
    load = {"root": config.root, "image_size": config.image_size, **config.data_options}
    train_set = data.load(config.data, split="train", **load)
    test_set = data.load(config.data, split="test", **load)
    # What the students distil on and the probes read; the teachers train on the whole train split.
    student_set = train_set if config.train_images is None else data.load(
        config.data, split="train", max_images=config.train_images, **load)
    teachers: dict[str, TeacherInfo] = {}
    for pair in config.pairs:
        key = pair.get("teacher_path") or pair["teacher"]
        if key not in teachers:
            teachers[key] = obtain_teacher(pair, config=config, train_set=train_set, test_set=test_set, out=out,
                                           device=device, progress=progress)
            info = teachers[key]
            say(f"teacher {info.arch} ({info.origin}): test top-1 {info.test_acc1:.2f}%, "
                f"test loss {info.test_loss:.4f}")
    stage_s["teachers"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scorers: dict[str, Any] = {}
    if _student_scored(config):
        for pair in config.pairs:
            key = pair.get("teacher_path") or pair["teacher"]
            if key not in scorers:  # one scorer per teacher: its first pair's student (see report)
                scorers[key] = _scorer_student(config, pair, teachers[key].path, out=out, device=device,
                                               executor=executor, store_path=store_path, train_set=student_set,
                                               summary=summary)
                say(f"scorer student for {', '.join(_student_scored(config))}: {pair['student']} by plain KD "
                    f"from {teachers[key].arch}")
    stage_s["scorer_students"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    for key, info in teachers.items():
        teacher = models.load_teacher(info.path, arch=info.arch, dataset=train_set, device="cpu")
        written = _probe_teacher(config, info, teacher, train_set=student_set, store=store, scorer=scorers.get(key),
                                 device=device, progress=progress)
        say(f"probed {info.arch}: {written} new probe results")
    stage_s["probes"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pairs = [(teachers[p.get("teacher_path") or p["teacher"]].path, p["student"]) for p in config.pairs]
    plan = _plan(config, pairs, config.schemes, config.seeds, out=out, device=device, cohort_size=cohort_size)
    outcome = run_plan(plan, executor=executor, jobs=config.jobs, store=store_path)
    _tally(summary, outcome)
    say(f"students: {len(outcome['ok'])} trained, {len(outcome['skipped'])} already done, "
        f"{len(outcome['failed'])} failed")
    stage_s["students"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    analysis = analyse(store, protocols=config.probe_protocols, quick=config.quick)
    exports = analysis.write(out, store=store, name=config.name)
    stage_s["analysis"] = time.perf_counter() - t0
    elapsed = time.perf_counter() - started
    result = StudyResult(out=out, config=config, teachers=list(teachers.values()), analysis=analysis,
                         report=out / "report.md", elapsed_s=elapsed, stage_s=stage_s, failed=summary["failed"],
                         skipped_jobs=summary["skipped"], ran_jobs=summary["ran"],
                         num_classes=train_set.num_classes, probe_images=len(student_set))
    write_report(result, exports=exports)
    (out / "summary.json").write_text(json.dumps(json_ready(result.to_dict()), indent=2, default=str))
    say(f"report: {result.report}")
    return result


def reprobe_study(out: str | Path, *, device: str = "auto", progress: bool = False,
                  log: Callable[[str], None] | None = None) -> StudyResult:
    """Probe a finished study's teachers again with today's engine, then redo its analysis and report.

    The students stay as they are: their results are read from ``out/dastat.sqlite``; the probe rows
    of the study's protocols are replaced. The teachers must be on disk as :func:`run_study` left
    them. ``cutmixpick_s`` needs its plain-KD scorer student's checkpoint under ``out/runs``; where
    it is missing, the scheme is not probed (its old probe is removed too, since it measured another
    design) and the report lists it among the failed jobs.
    """
    from dastat import data, models
    from dastat import store as store_mod
    from dastat.study.config import load_config
    from dastat.study.report import write_report

    say = log or (lambda line: None)
    started = time.perf_counter()
    out = Path(out)
    config = load_config(out / "config.yaml")
    store = store_mod.open(out / STORE_NAME)
    load = {"root": config.root, "image_size": config.image_size, **config.data_options}
    train_set = data.load(config.data, split="train", **load)
    test_set = data.load(config.data, split="test", **load)
    student_set = train_set if config.train_images is None else data.load(
        config.data, split="train", max_images=config.train_images, **load)
    with store.transaction() as conn:
        for protocol in config.probe_protocols:
            conn.execute("DELETE FROM probes WHERE protocol = ?", (protocol,))
    failed: list[dict] = []
    teachers: dict[str, TeacherInfo] = {}
    t0 = time.perf_counter()
    for pair in config.pairs:
        key = pair.get("teacher_path") or pair["teacher"]
        if key in teachers:
            continue
        teachers[key] = info = obtain_teacher(pair, config=config, train_set=train_set, test_set=test_set, out=out,
                                              device=device, progress=progress)
        scorer = None
        if "cutmixpick_s" in config.schemes:
            plan = _plan(config, [(info.path, pair["student"])], ["identity"], [config.seeds[0]], out=out,
                         device=device, methods=["kd"])
            checkpoint = Path(plan.jobs[0].out_dir) / "student.pt"
            if checkpoint.is_file():
                scorer = models.load_student(checkpoint, dataset=student_set, device="cpu")
            else:
                failed.append({"job": f"probe cutmixpick_s for {info.arch}",
                               "error": f"its scorer student's checkpoint {checkpoint} is not on disk; cutmixpick_s "
                                        "has no probe and is left out of the correlations"})
        teacher = models.load_teacher(info.path, arch=info.arch, dataset=train_set, device="cpu")
        written = _probe_teacher(config, info, teacher, train_set=student_set, store=store, scorer=scorer,
                                 device=device, progress=progress)
        say(f"probed {info.arch} again: {written} probe results")
    stage_s = {"probes": time.perf_counter() - t0}
    t0 = time.perf_counter()
    analysis = analyse(store, protocols=config.probe_protocols, quick=config.quick)
    exports = analysis.write(out, store=store, name=config.name)
    stage_s["analysis"] = time.perf_counter() - t0
    result = StudyResult(out=out, config=config, teachers=list(teachers.values()), analysis=analysis,
                         report=out / "report.md", elapsed_s=time.perf_counter() - started, stage_s=stage_s,
                         failed=failed, num_classes=train_set.num_classes, probe_images=len(student_set))
    write_report(result, exports=exports)
    (out / "summary.json").write_text(json.dumps(json_ready(result.to_dict()), indent=2, default=str))
    say(f"report: {result.report}")
    return result


def _write_config(config: StudyConfig, out: Path) -> None:
    import yaml

    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


__all__ = ["EXECUTORS", "STORE_NAME", "StudyResult", "reprobe_study", "run_study"]
