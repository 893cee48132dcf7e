"""Knowledge distillation with a data augmentation, exactly as the paper's recipe (docs/method.md, "KD recipe")."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dastat import distributed as dd
from dastat.checks import check_int
from dastat.data.dataset import ImageTensorDataset
from dastat.device import resolve_device
from dastat.errors import InvalidArgumentError
from dastat.train import inputs
from dastat.train.checkpoint import CHECKPOINT_NAME
from dastat.train.init_stage import run_init_stage
from dastat.train.loop import LoopSpec, Member, Trainee, results, run_loop, summary
from dastat.train.loss import TEMPERATURE
from dastat.train.recipe import Recipe
from dastat.train.result import TrainResult, final_metrics
from dastat.train.step import kd_step


class StudentScorer(nn.Module):
    """The student as a picking scorer: eval mode, no gradients, BatchNorm statistics untouched.

    The reference code scores CutMixPick_S candidates with the student in train mode, which both
    normalises with batch statistics and updates the running statistics with the candidate pool.
    dastat scores with the running statistics and leaves them as they were, so that the candidates a
    scheme *considers* never change the student; the ranking of candidates can differ slightly.
    """

    def __init__(self, student: nn.Module):
        super().__init__()
        self.student = student

    def forward(self, x: Tensor) -> Tensor:
        was_training = self.student.training
        self.student.eval()
        try:
            with torch.no_grad():
                return self.student(x)
        finally:
            self.student.train(was_training)


def scheme_of(scheme: Any, train_set: ImageTensorDataset, teacher: nn.Module):
    from dastat import augment

    if isinstance(scheme, str):
        fill = augment.fill_colour(teacher, train_set)
        return augment.get(scheme, image_size=train_set.image_size, fill=fill)
    if callable(scheme) and hasattr(scheme, "name"):
        return scheme
    raise InvalidArgumentError(
        f"scheme must be a scheme name (see dastat.augment.list_schemes()) or a scheme from "
        f"dastat.augment.get(); got {type(scheme).__name__}"
    )


def scorer_for(aug: Any, teacher: nn.Module, student: nn.Module) -> Any:
    """What a scheme's ``scorer=`` takes: the teacher, the student (see :class:`StudentScorer`), both, or None."""
    from dastat import augment

    return augment.scorer_for(aug, teacher, StudentScorer(student))


def save_student(model: nn.Module, out_dir: Path, record: dict[str, Any]) -> None:
    """``out_dir/student.pt``: the trained student, loadable by ``dastat.models.load_teacher``."""
    from dastat import models

    config = record["config"]
    models.save_checkpoint(model, out_dir / "student.pt", teacher=config["teacher"], scheme=config["scheme"],
                           seed=config["seed"], epochs=config["epochs"], test_acc1=record["test_acc1"],
                           test_loss=record["test_loss"])


def distill(
    teacher: nn.Module,
    student: str | nn.Module,
    train_set: ImageTensorDataset,
    test_set: ImageTensorDataset,
    scheme: Any = "identity",
    *,
    recipe: Recipe | None = None,
    seed: int = 0,
    device: str = "auto",
    out_dir: str | Path | None = None,
    checkpoint_every: int = 10,
    test_from: int = 1,
    resume: bool = False,
    progress: bool = False,
    on_step: Callable[[int, int], None] | None = None,
    **settings: Any,
) -> TrainResult:
    """Distil ``teacher`` into ``student`` with the scheme's x' beside the standard x (docs/method.md, "KD recipe").

    Per step (:mod:`dastat.train.step`): x = the standard per-sample crop (zero padding) + flip of the batch;
    x' = scheme(x); loss = ``0.1*CE(s(x), y) + 0.9*(KL_tau(s(x)||t(x)) + KL_tau(s(x')||t(x')))``, tau = 4.
    Picking schemes score with the teacher, or (``cutmixpick_s``) with the student in eval mode
    (:class:`StudentScorer`). A last batch below a mixing scheme's ``min_batch`` uses x' = x.

    Parameters
    ----------
    teacher : nn.Module
        A ``dastat.models.Classifier`` (``load_teacher`` / ``embedded_teacher``): uint8 in, logits out.
    student : str or nn.Module
        A zoo name (built for the dataset's classes and image size, initial weights from ``seed``), a
        network (wrapped with the dataset's mean/std) or a Classifier.
    train_set, test_set : ImageTensorDataset
        Same classes as the teacher; moved to ``device`` once.
    scheme : str or Scheme
        The DA making x' (``dastat.augment.list_schemes()``); a name is built for the dataset's
        image size with the teacher's mean colour as fill (``dastat.augment.fill_colour``).
    recipe, **settings : Recipe, optional
        The training settings (method, loss weights, epochs, lr, batch size, amp, ...); default the
        paper's recipe. Keywords replace single ones: ``distill(..., epochs=4, method="crd")``.
    seed : int
        Decides data order, augmentation draws and the student's initial weights.
    device : str
        ``auto``, ``cpu`` or ``cuda[:N]`` (under torchrun, ``cuda:LOCAL_RANK``).
    out_dir, checkpoint_every : str or Path, int
        Run directory: ``checkpoint.pt`` (every ``checkpoint_every`` epochs and at the end, written
        atomically), ``records.jsonl`` (one line per epoch, then the final record) and ``student.pt``
        (the trained student, loadable by ``dastat.models.load_teacher``).
    test_from : int
        The first epoch after which the test set is scored (default every epoch; the last epoch always
        is): a study that reads only the end of each curve skips the cost of testing before it.
    resume : bool
        Continue from ``out_dir/checkpoint.pt`` (fresh start when there is none); a directory holding
        a different configuration is refused, naming what differs.
    progress, on_step : bool, callable
        A progress bar over epochs (loss, test accuracy, ETA); ``on_step(epoch, step)`` after every
        optimiser step (both count from 1).

    Returns
    -------
    TrainResult
        ``record``: last epoch's ``test_loss``, ``test_acc1``, ``test_acc5`` (percent), ``train_loss``,
        the best epoch's figures, the configuration; ``curve``: one row per epoch; ``method``: the
        method's trained modules.

    Raises
    ------
    InvalidArgumentError
        Class counts of teacher, student and data differ; epochs < 1; bad arguments.
    UnknownNameError
        Unknown student architecture, scheme or method.
    ConfigError
        ``out_dir`` holds another run (without ``resume``) or a different configuration.
    NumericalError
        The loss became NaN or infinite (names the epoch and step; the last good checkpoint is kept).
    """
    recipe = Recipe.of(recipe, **settings)
    train_set, test_set = inputs.check_datasets(train_set, test_set)
    check_teacher(teacher, train_set)
    seed = check_int(seed, "seed", low=0)
    student_model = inputs.as_classifier(student, train_set, seed=seed, role="student")
    inputs.check_classes(student_model, train_set, "student")
    lr, aug = recipe.lr_for(student_model.arch), scheme_of(scheme, train_set, teacher)
    world, dev = dd.join(resolve_device(device))
    channels_last = recipe.channels_last_on(dev)
    teacher, student_model = place_teacher(teacher, dev, channels_last), student_model.to(dev)
    train_set, test_set, out_dir = train_set.to(dev), test_set.to(dev), inputs.resolve_out_dir(out_dir)
    term, init_epochs = _method_term(recipe, student_model, teacher, train_set, seed=seed, lr=lr, out_dir=out_dir,
                                     world=world)
    in_step = term if term is not None and term.has_term and recipe.beta != 0 else None
    spec = loop_spec(recipe, lr, dev, train_set.image_size, checkpoint_every=checkpoint_every, test_from=test_from,
                     resume=resume,
                     progress=progress, on_step=on_step, world=world,
                     extra_streams=("scheme", "method") if in_step is not None else ("scheme",))
    if channels_last:
        student_model = student_model.to(memory_format=torch.channels_last)
    config = run_config(teacher, student_model, train_set, test_set, aug, recipe, seed=seed, lr=lr,
                        channels_last=channels_last, world_size=world.size, init_epochs=init_epochs)
    member = Member(seed, config, out_dir, aug, scorer_for(aug, teacher, student_model))
    trainee = Trainee(student_model, [member], method=term)
    run_loop(trainee, train_set, test_set, spec, kd_step(teacher, [member], trainee.forward, weights=recipe.weights,
                                                         term=in_step))
    [result] = results(trainee, world, finish_run)
    if world.is_main and out_dir is not None:
        save_student(result.model, out_dir, result.record)
    result.method = None if term is None else term.eval()
    return result


def loop_spec(recipe: Recipe, lr: float, device: torch.device, image_size: int, **run: Any) -> LoopSpec:
    """The loop's settings from the recipe's; ``run`` holds the run's own (checkpoint_every, resume, ...)."""
    return LoopSpec(epochs=recipe.epochs, lr=lr, milestones=recipe.milestones, batch_size=recipe.batch_size,
                    device=device, augment=inputs.standard_augment(image_size), amp=recipe.amp,
                    compile=recipe.compile, **run)


def check_teacher(teacher: object, train_set: ImageTensorDataset) -> None:
    if not isinstance(teacher, nn.Module):
        raise InvalidArgumentError(
            f"teacher must be a torch.nn.Module (dastat.models.load_teacher); got {type(teacher).__name__}"
        )
    inputs.check_classes(teacher, train_set, "teacher")


def place_teacher(teacher: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    """The teacher on the device, in eval mode (and channels-last on request)."""
    teacher = teacher.to(device).eval()
    return teacher.to(memory_format=torch.channels_last) if channels_last else teacher


def _method_term(recipe: Recipe, student: nn.Module, teacher: nn.Module, train_set: ImageTensorDataset, *,
                 seed: int, lr: float, out_dir: Path | None, world: dd.World) -> tuple[Any, int | None]:
    """The method's term (None for plain KD) after its pre-training stage, and that stage's epochs."""
    term = _build_term(recipe.method, student, teacher, train_set, seed, recipe.method_options)
    init_epochs = recipe.init_epochs_for(term is not None and term.has_init_stage)
    if init_epochs is not None and not (out_dir is not None and (out_dir / CHECKPOINT_NAME).exists()):
        # A resumed run's checkpoint already holds what the pre-training stage produced (and without
        # resume the loop refuses the directory).
        run_init_stage(term, student, teacher, train_set, epochs=init_epochs, lr=lr, batch_size=recipe.batch_size,
                       seed=seed, augment=inputs.standard_augment(train_set.image_size), amp=recipe.amp)
        dd.broadcast_module(term, world)
    return term, init_epochs


def _build_term(method: str, student: nn.Module, teacher: nn.Module, train_set: ImageTensorDataset, seed: int,
                options: dict[str, Any] | None):
    """The method's term for this pair, its modules' initial values drawn from ``seed``."""
    from dastat.rng import derive_seed
    from dastat.train.methods import PairShapes, build_term

    if method == "kd" and not options:
        return None
    probe = train_set.images[:2]
    was_training = student.training
    student.eval()
    try:
        with torch.no_grad():
            feat_s, _ = student(probe, is_feat=True)
            feat_t, _ = teacher(probe, is_feat=True)
    except TypeError as err:  # a network whose forward takes no is_feat
        raise InvalidArgumentError(
            f"method {method!r} needs the networks' features, model(x, is_feat=True) as in RepDistiller's zoo "
            f"(dastat.models.create); this teacher or student does not take it ({err})"
        ) from err
    finally:
        student.train(was_training)
    shapes = PairShapes([f.shape for f in feat_s], [f.shape for f in feat_t], train_set.labels, student.arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init:method"))
        term = build_term(method, shapes, options)
    few = min(len(feat_s), len(feat_t))
    if term is not None and term.needs_stages and few < 3:
        raise InvalidArgumentError(
            f"method {method!r} reads the stage feature maps, but this teacher-student pair's is_feat output "
            f"has {few} feature(s) (the CIFAR zoo gives stem, stages and pooled vector); use a zoo network, "
            "or a method on the pooled vector (crd, pkt, rkd, correlation)"
        )
    return None if term is None else term.to(train_set.images.device)


def run_config(teacher: nn.Module, student: nn.Module, train_set: ImageTensorDataset,
               test_set: ImageTensorDataset, aug: Any, recipe: Recipe, *, seed: int, lr: float, channels_last: bool,
               world_size: int, init_epochs: int | None = None) -> dict[str, Any]:
    """The configuration a distillation run records (and checks on resume); shared with cohorts."""
    config = {
        "kind": "distill",
        "teacher": getattr(teacher, "arch", type(teacher).__name__),
        "teacher_checksum": getattr(teacher, "checksum", None),
        "teacher_mean": list(getattr(teacher, "mean", ()) or ()),
        "teacher_std": list(getattr(teacher, "std", ()) or ()),
        "student": student.arch,
        "dataset": train_set.name,
        "n_train": len(train_set),
        "n_test": len(test_set),
        "image_size": train_set.image_size,
        "num_classes": train_set.num_classes,
        "scheme": aug.name,
        "scheme_params": dict(getattr(aug, "hparams", {}) or {}),
        "seed": seed,
        "epochs": recipe.epochs,
        "epoch_factor": recipe.epoch_factor,
        "lr": lr,
        "batch_size": recipe.batch_size,
        "milestones": recipe.milestones,
        "temperature": TEMPERATURE,
        "amp": recipe.amp,
        "channels_last": channels_last,
        "compile": recipe.compile,
        "world_size": world_size,
        **inputs.versions(),
    }
    if not recipe.is_plain_kd:
        # Only beside plain KD's defaults, so that KD runs keep their configuration (and run ids).
        config.update(method=recipe.method, gamma=recipe.gamma, alpha=recipe.alpha, beta=recipe.beta,
                      method_options=dict(recipe.method_options), init_epochs=init_epochs)
    return config


def finish_run(m: Member) -> dict[str, Any]:
    """A distillation run's final record, from its member in the loop; shared with cohorts."""
    return final_record(m.config, m.out_dir, summary(m), randomness=getattr(m.scheme, "randomness", None))


def final_record(config: dict[str, Any], out_dir: Path | None, summary: dict[str, Any], *,
                 randomness: str | None) -> dict[str, Any]:
    """The final record of a distillation run from the loop's summary; shared with cohorts.

    ``randomness`` is the scheme's setting (``sample`` unless built otherwise); it stays out of the
    configuration, which names the run.
    """
    return {
        "run_id": _run_id(config, out_dir),
        "teacher": config["teacher"],
        "teacher_checksum": config["teacher_checksum"],
        "student": config["student"],
        "dataset": config["dataset"],
        "scheme": config["scheme"],
        "scheme_params": config["scheme_params"],
        "method": config.get("method", "kd"),
        "randomness": randomness,
        "seed": config["seed"],
        "epochs": config["epochs"],
        "epoch_factor": config["epoch_factor"],
        **final_metrics(summary, config),
    }


def _run_id(config: dict[str, Any], out_dir: Path | None) -> str:
    """The same id for the same run (resumed or not), so storing it and re-ingesting its records.jsonl
    keep one row: the store replaces a record whose run_id it already holds."""
    key = json.dumps({"config": config, "out_dir": None if out_dir is None else str(Path(out_dir).resolve())},
                     sort_keys=True, default=str)
    return "distill-" + hashlib.sha256(key.encode()).hexdigest()[:16]
