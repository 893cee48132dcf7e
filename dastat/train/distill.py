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
from dastat.checks import check_float, check_int
from dastat.data.dataset import ImageTensorDataset
from dastat.device import resolve_device
from dastat.errors import InvalidArgumentError
from dastat.train import inputs
from dastat.train.checkpoint import CHECKPOINT_NAME
from dastat.train.init_stage import default_init_epochs, run_init_stage
from dastat.train.loop import LoopSpec, run_loop
from dastat.train.loss import CE_WEIGHT, KD_WEIGHT, TEMPERATURE, distillation_loss
from dastat.train.result import TrainResult, final_metrics
from dastat.train.schedule import default_lr, milestones_for


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
    method: str = "kd",
    gamma: float | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    method_options: dict[str, Any] | None = None,
    init_epochs: int | None = None,
    epochs: int | None = None,
    epoch_factor: float = 1,
    lr: float | None = None,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "auto",
    amp: bool = False,
    channels_last: bool | None = None,
    compile: bool = False,
    out_dir: str | Path | None = None,
    checkpoint_every: int = 10,
    resume: bool = False,
    progress: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Distil ``teacher`` into ``student`` with the scheme's x' beside the standard x (docs/method.md, "KD recipe").

    Per step: x = the standard per-sample crop (zero padding) + flip of the batch; x' = scheme(x);
    loss = ``0.1*CE(s(x), y) + 0.9*(KL_tau(s(x)||t(x)) + KL_tau(s(x')||t(x')))``, tau = 4. x and x'
    go through the student in two forward passes (BatchNorm sees each batch alone, as in the
    reference code); the teacher, in eval mode under inference mode, takes both at once. Schemes that
    pick by entropy score with the teacher, or (``cutmixpick_s``) with the student in eval mode (see
    :class:`StudentScorer` for how that differs from the reference). A last batch smaller than a
    mixing scheme's ``min_batch`` (a single image) uses x' = x.

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
    method : str
        The distillation method (``dastat.train.list_methods()``): its term ``beta*L_method(x)`` is added
        to the KD loss, on the ``is_feat`` features of x. Its own modules (CRD's embeddings and
        memory, VID's regressors, ...) train with the student and are saved in the checkpoint.
        AB, FT and FSP first run their pre-training stage (see ``init_epochs``).
    gamma, alpha, beta : float, optional
        Weights of CE, the KL terms and the method's term; defaults 0.1, 0.9 (the paper's recipe)
        and the method's ``beta`` from RepDistiller's published commands (``dastat.train.methods``).
    method_options : dict, optional
        The method builder's options (``{"nce_k": 4096, "feat_dim": 128}`` for crd).
    init_epochs : int, optional
        Epochs of AB's, FT's and FSP's pre-training stage; default 30 x epochs / 240 (the
        reference's 30 of 240), at least 1.
    epochs : int, optional
        Epochs to run; default 240 x ``epoch_factor``. The lr decays (x0.1) at 150/180/210 of 240
        scaled to the epochs run (``epochs=480``: 300/360/420; ``epochs=4``: 2/3/4 after rounding).
    epoch_factor : float
        The epoch factor k of docs/method.md, "KD recipe"; recorded with the run.
    lr : float, optional
        Default 0.05, or 0.01 for MobileNetV2 / ShuffleV1 / ShuffleV2 students.
    batch_size : int
        Per process (under torchrun, each rank takes this many images per step).
    seed : int
        Decides data order, augmentation draws and the student's initial weights.
    device : str
        ``auto``, ``cpu`` or ``cuda[:N]`` (under torchrun, ``cuda:LOCAL_RANK``).
    amp : bool
        bf16 autocast for the forward passes (meant for CUDA).
    channels_last : bool, optional
        Channels-last memory format for the student and teacher; default on for CUDA.
    compile : bool
        ``torch.compile`` the student.
    out_dir : str or Path, optional
        Run directory: ``checkpoint.pt`` (every ``checkpoint_every`` epochs and at the end, written
        atomically), ``records.jsonl`` (one line per epoch, then the final record) and ``student.pt``
        (the trained student, loadable by ``dastat.models.load_teacher``).
    checkpoint_every : int
        Epochs between checkpoints.
    resume : bool
        Continue from ``out_dir/checkpoint.pt`` (fresh start when there is none). A directory
        holding a different configuration is refused, naming what differs.
    progress : bool
        A progress bar over epochs (loss, test accuracy, ETA).
    on_step : callable, optional
        ``on_step(epoch, step)`` after every optimiser step (both count from 1).

    Returns
    -------
    TrainResult
        ``record``: last epoch's ``test_loss``, ``test_acc1``, ``test_acc5`` (percent), ``train_loss``,
        the best epoch's figures, the configuration; ``curve``: one row per epoch.

    Raises
    ------
    InvalidArgumentError
        Class counts of teacher, student and data differ; epochs < 1; bad arguments.
    UnknownNameError
        Unknown student architecture or scheme.
    ConfigError
        ``out_dir`` holds another run (without ``resume``) or a different configuration.
    NumericalError
        The loss became NaN or infinite (names the epoch and step; the last good checkpoint is kept).
    """
    train_set, test_set = inputs.check_datasets(train_set, test_set)
    if not isinstance(teacher, nn.Module):
        raise InvalidArgumentError(
            f"teacher must be a torch.nn.Module (dastat.models.load_teacher); got {type(teacher).__name__}"
        )
    epochs, epoch_factor = inputs.resolve_epochs(epochs, epoch_factor)
    batch_size = check_int(batch_size, "batch_size", low=1)
    seed = check_int(seed, "seed", low=0)
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", low=1)
    inputs.check_classes(teacher, train_set, "teacher")
    student_model = inputs.as_classifier(student, train_set, seed=seed, role="student")
    inputs.check_classes(student_model, train_set, "student")
    lr = default_lr(student_model.arch) if lr is None else check_float(lr, "lr", low=0, low_open=True)
    aug = scheme_of(scheme, train_set, teacher)
    from dastat.train.methods import get_method

    method_info = get_method(method) if isinstance(method, str) else None
    if method_info is None:
        raise InvalidArgumentError(f"method must be a name of dastat.train.list_methods(); got {type(method).__name__}")
    gamma = CE_WEIGHT if gamma is None else check_float(gamma, "gamma", low=0)
    alpha = KD_WEIGHT if alpha is None else check_float(alpha, "alpha", low=0)
    beta = method_info.beta if beta is None else check_float(beta, "beta", low=0)

    dev = resolve_device(device)
    world, dev = dd.join(dev)
    channels_last = dev.type == "cuda" if channels_last is None else bool(channels_last)
    teacher = teacher.to(dev).eval()
    if channels_last:
        teacher = teacher.to(memory_format=torch.channels_last)
    student_model = student_model.to(dev)
    train_set, test_set = train_set.to(dev), test_set.to(dev)
    milestones = milestones_for(epochs)
    term = _build_term(method, student_model, teacher, train_set, seed, method_options)
    has_init = term is not None and term.has_init_stage
    if not has_init:
        init_epochs = None
    elif init_epochs is None:
        init_epochs = default_init_epochs(epochs)
    else:
        init_epochs = check_int(init_epochs, "init_epochs", low=1)

    config = run_config(teacher, student_model, train_set, test_set, aug, seed=seed, epochs=epochs,
                        epoch_factor=epoch_factor, lr=lr, batch_size=batch_size, amp=amp,
                        channels_last=channels_last, compile=compile, world_size=world.size)
    if method != "kd" or (gamma, alpha) != (CE_WEIGHT, KD_WEIGHT):
        # Only beside plain KD's defaults, so that KD runs keep their configuration (and run ids).
        config.update(method=method, gamma=gamma, alpha=alpha, beta=beta, method_options=dict(method_options or {}),
                      init_epochs=init_epochs)
    in_step = term if term is not None and term.has_term and beta != 0 else None
    spec = LoopSpec(
        epochs=epochs, lr=lr, milestones=milestones, batch_size=batch_size, seed=seed, device=dev,
        config=config, augment=inputs.standard_augment(train_set.image_size),
        extra_streams=("scheme", "method") if in_step is not None else ("scheme",),
        amp=bool(amp), channels_last=channels_last, compile=bool(compile),
        out_dir=inputs.resolve_out_dir(out_dir), checkpoint_every=checkpoint_every, resume=resume,
        progress=progress, on_step=on_step, world=world, method=term,
        with_index=in_step is not None and in_step.needs_index,
    )
    if has_init and not (spec.out_dir is not None and (Path(spec.out_dir) / CHECKPOINT_NAME).exists()):
        # A resumed run's checkpoint already holds what the pre-training stage produced (and without
        # resume the loop refuses the directory).
        run_init_stage(term, student_model, teacher, train_set, epochs=init_epochs, lr=lr, batch_size=batch_size,
                       seed=seed, augment=spec.augment, amp=bool(amp))
        dd.broadcast_module(term, world)
    scorer = scorer_for(aug, teacher, student_model)
    min_batch = getattr(aug, "min_batch", 1)

    def make_step(train_model: nn.Module, gens: dict[str, torch.Generator]):
        def scheme_view(x: Tensor) -> Tensor:
            if len(x) < min_batch:
                return x  # a lone last image cannot be mixed with a partner
            with torch.no_grad():
                return aug(x, generator=gens["scheme"], scorer=scorer)

        def step(x: Tensor, labels: Tensor) -> Tensor:
            x_prime = scheme_view(x)
            with torch.inference_mode():
                logits_t = teacher(torch.cat([x, x_prime]))  # [B + B', C]
            # Inference tensors cannot be saved for backward: clone outside inference mode.
            logits_t = logits_t.clone()
            logits_s_x = train_model(x)  # [B, C]
            logits_s_xp = train_model(x_prime)  # [B', C]
            return distillation_loss(logits_s_x, logits_t[: len(x)], labels, logits_s_xp, logits_t[len(x):],
                                     gamma=gamma, alpha=alpha)

        def method_step(x: Tensor, labels: Tensor, index: Tensor | None = None) -> Tensor:
            x_prime, b = scheme_view(x), len(x)
            with torch.inference_mode():
                feat_t, logits_t = teacher(torch.cat([x, x_prime]), is_feat=True, preact=in_step.preact)
            feat_t = [f[:b].clone() for f in feat_t]  # the method sees x only, as the reference
            logits_t = logits_t.clone()
            feat_s, logits_s_x = train_model(x, is_feat=True, preact=in_step.preact)
            logits_s_xp = train_model(x_prime)
            return distillation_loss(logits_s_x, logits_t[:b], labels, logits_s_xp, logits_t[b:], gamma=gamma,
                                     alpha=alpha, beta=beta, term=in_step, feat_s=feat_s, feat_t=feat_t,
                                     index=index, generator=gens.get("method"))

        return step if in_step is None else method_step

    def finish(summary: dict[str, Any]) -> dict[str, Any]:
        return final_record(config, spec.out_dir, summary, randomness=getattr(aug, "randomness", None))

    result = run_loop(student_model, train_set, test_set, spec, make_step, finish)
    if world.is_main and spec.out_dir is not None:
        save_student(result.model, Path(spec.out_dir), result.record)
    result.run_id = result.record["run_id"]
    result.method = None if term is None else term.eval()
    return result


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
               test_set: ImageTensorDataset, aug: Any, *, seed: int, epochs: int, epoch_factor: float, lr: float,
               batch_size: int, amp: bool, channels_last: bool, compile: bool, world_size: int) -> dict[str, Any]:
    """The configuration a distillation run records (and checks on resume); shared with cohorts."""
    return {
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
        "epochs": epochs,
        "epoch_factor": epoch_factor,
        "lr": lr,
        "batch_size": batch_size,
        "milestones": milestones_for(epochs),
        "temperature": TEMPERATURE,
        "amp": bool(amp),
        "channels_last": channels_last,
        "compile": bool(compile),
        "world_size": world_size,
        **inputs.versions(),
    }


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
