"""What a distillation method adds to a training step, and how it is built for a teacher-student pair."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class PairShapes:
    """What a method is built from: the pair's ``is_feat`` feature shapes and the training set.

    ``s_shapes`` / ``t_shapes`` are the shapes of the student's and teacher's ``is_feat`` features
    (RepDistiller's layout: input stem, one map per stage, the pooled vector last); ``labels`` are
    the training set's labels ``[N]`` on the training device.
    """

    s_shapes: list[torch.Size]
    t_shapes: list[torch.Size]
    labels: Tensor
    student_arch: str

    @property
    def n_data(self) -> int:
        return len(self.labels)


def _float32(features: list[Tensor]) -> list[Tensor]:
    return [f.float() if f.dtype in (torch.float16, torch.bfloat16) else f for f in features]


class MethodTerm(nn.Module):
    """A method's loss term ``L_method(x)`` on the student's and teacher's features of x.

    Subclasses write :meth:`term`; calling the module runs it in float32 outside autocast (a bf16 AMP
    step hands in bf16 features), so a method's value does not depend on AMP beyond its inputs.
    Modules it owns (embeddings, regressors, memories) are trained with the student and saved with it.

    Methods with a pre-training stage (AB, FT, FSP) set ``has_init_stage`` and write the ``init_*``
    methods; methods that act only through that stage (AB, FSP) set ``has_term = False``.
    """

    preact: bool = False  # wants pre-activation features (AB)
    needs_index: bool = False  # wants the batch's dataset indices (CRD)
    needs_stages: bool = True  # reads the stage maps, not only the pooled vector (``is_feat``'s last)
    has_term: bool = True
    has_init_stage: bool = False
    init_trains_student: bool = True  # AB and FSP pre-train the student's feature layers; FT does not

    def forward(self, feat_s: list[Tensor], feat_t: list[Tensor], index: Tensor | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        with torch.autocast(feat_s[0].device.type, enabled=False):
            return self.term(_float32(feat_s), _float32(feat_t), index, generator).reshape(())

    def term(self, feat_s: list[Tensor], feat_t: list[Tensor], index: Tensor | None,
             generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def init_parameters(self, student: nn.Module) -> list[nn.Parameter]:
        """Parameters the pre-training stage optimises."""
        raise NotImplementedError

    def init_loss(self, feat_s: list[Tensor], feat_t: list[Tensor]) -> Tensor:
        raise NotImplementedError

    def init_lr(self, lr: float) -> float:
        """Learning rate of the pre-training stage (the reference uses the run's, FT with resnets 0.01)."""
        return lr


def feature_parameters(student: nn.Module) -> list[nn.Parameter]:
    """The student's parameters except its classifier (the last ``nn.Linear``): RepDistiller's
    ``get_feat_modules()``, which AB and FSP pre-train."""
    head = None
    for module in student.modules():
        if isinstance(module, nn.Linear):
            head = module
    skip = set() if head is None else {id(p) for p in head.parameters()}
    return [p for p in student.parameters() if id(p) not in skip]
