"""The training recipe: what a distillation run trains with, its defaults and checks in one place."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from dastat.checks import check_float, check_int
from dastat.errors import InvalidArgumentError
from dastat.train import inputs
from dastat.train.init_stage import default_init_epochs
from dastat.train.loss import CE_WEIGHT, KD_WEIGHT
from dastat.train.schedule import default_lr, milestones_for
from dastat.train.step import Weights


@dataclass(frozen=True)
class Recipe:
    """The settings of a distillation run (docs/method.md, "KD recipe"); checked and resolved when built.

    Parameters
    ----------
    method : str
        The distillation method (``dastat.train.list_methods()``): its term ``beta*L_method(x)`` is added
        to the KD loss, on the ``is_feat`` features of x. Its own modules (CRD's embeddings and memory,
        VID's regressors, ...) train with the student and are saved in the checkpoint. AB, FT and FSP
        first run their pre-training stage (see ``init_epochs``).
    gamma, alpha, beta : float, optional
        Weights of CE, the KL terms and the method's term; defaults 0.1, 0.9 (the paper's recipe) and
        the method's ``beta`` from RepDistiller's published commands (``dastat.train.methods``).
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
    amp : bool
        bf16 autocast for the forward passes (meant for CUDA).
    channels_last : bool, optional
        Channels-last memory format for the student and teacher; default on for CUDA.
    compile : bool
        ``torch.compile`` the student.
    """

    method: str = "kd"
    gamma: float | None = None
    alpha: float | None = None
    beta: float | None = None
    method_options: dict[str, Any] = field(default_factory=dict)
    init_epochs: int | None = None
    epochs: int | None = None
    epoch_factor: float = 1
    lr: float | None = None
    batch_size: int = 64
    amp: bool = False
    channels_last: bool | None = None
    compile: bool = False

    def __post_init__(self) -> None:
        from dastat.train.methods import get_method

        if not isinstance(self.method, str):
            raise InvalidArgumentError(
                f"method must be a name of dastat.train.list_methods(); got {type(self.method).__name__}")
        method = get_method(self.method)
        # What was asked, before defaults are filled in: ``Recipe.of`` changes these (a new method brings
        # its own beta, a new epoch_factor its own epochs).
        object.__setattr__(self, "_given", {f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        epochs, epoch_factor = inputs.resolve_epochs(self.epochs, self.epoch_factor)
        resolved = {
            "epochs": epochs, "epoch_factor": epoch_factor,
            "batch_size": check_int(self.batch_size, "batch_size", low=1),
            "gamma": CE_WEIGHT if self.gamma is None else check_float(self.gamma, "gamma", low=0),
            "alpha": KD_WEIGHT if self.alpha is None else check_float(self.alpha, "alpha", low=0),
            "beta": method.beta if self.beta is None else check_float(self.beta, "beta", low=0),
            "lr": None if self.lr is None else check_float(self.lr, "lr", low=0, low_open=True),
            "init_epochs": None if self.init_epochs is None else check_int(self.init_epochs, "init_epochs", low=1),
            "method_options": dict(self.method_options or {}),
            "amp": bool(self.amp), "compile": bool(self.compile),
        }
        for name, value in resolved.items():
            object.__setattr__(self, name, value)

    @classmethod
    def of(cls, recipe: Recipe | None = None, **settings: Any) -> Recipe:
        """``recipe`` (default: the paper's) with ``settings`` replacing its settings; None leaves one as it is.

        An unknown setting is refused, naming the recipe's settings.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise InvalidArgumentError(f"unknown training setting {', '.join(map(repr, unknown))}; the recipe's "
                                       f"settings: {', '.join(names)}")
        if recipe is not None and not isinstance(recipe, Recipe):
            raise InvalidArgumentError(f"recipe must be a dastat.train.Recipe; got {type(recipe).__name__}")
        given = {} if recipe is None else recipe._given
        return cls(**{**given, **{k: v for k, v in settings.items() if v is not None}})

    @property
    def milestones(self) -> list[int]:
        return milestones_for(self.epochs)

    @property
    def weights(self) -> Weights:
        return Weights(self.gamma, self.alpha, self.beta)

    @property
    def is_plain_kd(self) -> bool:
        """Plain KD at the paper's weights: its runs record no method settings (their run ids stay as they were)."""
        return self.method == "kd" and (self.gamma, self.alpha) == (CE_WEIGHT, KD_WEIGHT)

    def lr_for(self, student_arch: str | None) -> float:
        return default_lr(student_arch) if self.lr is None else self.lr

    def channels_last_on(self, device: torch.device) -> bool:
        return device.type == "cuda" if self.channels_last is None else bool(self.channels_last)

    def init_epochs_for(self, has_init_stage: bool) -> int | None:
        """Epochs of the method's pre-training stage (None for a method without one)."""
        if not has_init_stage:
            return None
        return default_init_epochs(self.epochs) if self.init_epochs is None else self.init_epochs
