"""The KD loss of the paper's recipe (docs/method.md, "KD recipe")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TEMPERATURE = 4.0  # docs/method.md, "KD recipe": tau = 4
CE_WEIGHT = 0.1  # docs/method.md, "KD recipe": 0.1 * CE on x
KD_WEIGHT = 0.9  # docs/method.md, "KD recipe": 0.9 * (KL on x + KL on x')


def _at_least_f32(t: Tensor) -> Tensor:
    # float64 stays float64 (exactness checks); bf16/fp16 logits from AMP go up to float32.
    return t if t.dtype == torch.float64 else t.float()


def kl_tau(logits_s: Tensor, logits_t: Tensor, temperature: float = TEMPERATURE) -> Tensor:
    """``tau^2 * KL(softmax(t/tau) || softmax(s/tau))``, summed over classes, mean over the batch.

    The same quantity as RepDistiller's ``DistillKL`` (``kl_div(..., size_average=False) * T**2 / B``).

    Parameters
    ----------
    logits_s, logits_t : Tensor, float, shape [B, C]
        Student and teacher logits for the same images.
    temperature : float
        The softening temperature tau.

    Returns
    -------
    Tensor
        A scalar, computed in float32 (float64 for float64 logits; AMP gives bf16 logits).
    """
    log_p_s = F.log_softmax(_at_least_f32(logits_s) / temperature, dim=1)
    log_p_t = F.log_softmax(_at_least_f32(logits_t) / temperature, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * temperature**2


def distillation_loss(logits_s_x: Tensor, logits_t_x: Tensor, labels: Tensor,
                      logits_s_xp: Tensor | None = None, logits_t_xp: Tensor | None = None, *,
                      gamma: float = CE_WEIGHT, alpha: float = KD_WEIGHT, beta: float = 0.0,
                      term: nn.Module | None = None, feat_s: list[Tensor] | None = None,
                      feat_t: list[Tensor] | None = None, index: Tensor | None = None,
                      generator: torch.Generator | None = None) -> Tensor:
    """One step's loss: ``gamma*CE(s(x),y) + alpha*(KL_tau(x) + KL_tau(x')) + beta*L_method(x)``.

    The reference code's composition (``-r``, ``-a``, ``-b`` of RepDistiller's ``train_student.py``),
    with the scheme's x' adding its KL term as in the paper's recipe; x' gets no cross-entropy term
    (the scheme's mixed labels are not used) and the method's term sees x only, as in the reference.
    Without ``term`` no method work is done: plain KD is ``gamma=0.1, alpha=0.9``.

    Parameters
    ----------
    logits_s_x, logits_t_x : Tensor, float, shape [B, C]
        Student and teacher logits on x.
    labels : Tensor, int64, shape [B]
        Hard labels of x.
    logits_s_xp, logits_t_xp : Tensor, float, shape [B', C], optional
        Student and teacher logits on x' (B' may differ from B for picking schemes).
    gamma, alpha, beta : float
        Weights of the cross-entropy, the KL terms and the method's term.
    term : MethodTerm, optional
        The method's term (``dastat.train.methods.build_term``), called as
        ``term(feat_s, feat_t, index, generator)`` on the ``is_feat`` features of x.
    feat_s, feat_t : list of Tensor, optional
        Student and teacher features of x (``model(x, is_feat=True)``).
    index : Tensor, int64, shape [B], optional
        Dataset indices of x (CRD).
    generator : torch.Generator, optional
        The method's draws (CRD's negatives).

    Returns
    -------
    Tensor
        The scalar loss.
    """
    loss = gamma * F.cross_entropy(_at_least_f32(logits_s_x), labels)
    kd = kl_tau(logits_s_x, logits_t_x)
    if logits_s_xp is not None:
        kd = kd + kl_tau(logits_s_xp, logits_t_xp)
    loss = loss + alpha * kd
    if term is not None:
        loss = loss + beta * term(feat_s, feat_t, index, generator)
    return loss


def kd_loss(logits_s_x: Tensor, logits_t_x: Tensor, labels: Tensor,
            logits_s_xp: Tensor | None = None, logits_t_xp: Tensor | None = None) -> Tensor:
    """The paper's per-step KD loss: ``0.1*CE(s(x),y) + 0.9*(KL_tau(x) + KL_tau(x'))``
    (:func:`distillation_loss` with its default weights)."""
    return distillation_loss(logits_s_x, logits_t_x, labels, logits_s_xp, logits_t_xp)
