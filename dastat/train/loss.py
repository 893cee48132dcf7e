"""The KD loss of the paper's recipe (docs/method.md, "KD recipe")."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

TEMPERATURE = 4.0  # docs/method.md, "KD recipe": tau = 4
CE_WEIGHT = 0.1  # docs/method.md, "KD recipe": 0.1 * CE on x
KD_WEIGHT = 0.9  # docs/method.md, "KD recipe": 0.9 * (KL on x + KL on x')


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
        A scalar, computed in float32 whatever the logits' dtype (AMP gives bf16 logits).
    """
    log_p_s = F.log_softmax(logits_s.float() / temperature, dim=1)
    log_p_t = F.log_softmax(logits_t.float() / temperature, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * temperature**2


def kd_loss(logits_s_x: Tensor, logits_t_x: Tensor, labels: Tensor,
            logits_s_xp: Tensor | None = None, logits_t_xp: Tensor | None = None) -> Tensor:
    """The per-step loss of docs/method.md, "KD recipe": ``0.1*CE(s(x),y) + 0.9*(KL_tau(x) + KL_tau(x'))``.

    x' gets no cross-entropy term (the scheme's mixed labels are not used), as in the reference code.

    Parameters
    ----------
    logits_s_x, logits_t_x : Tensor, float, shape [B, C]
        Student and teacher logits on x.
    labels : Tensor, int64, shape [B]
        Hard labels of x.
    logits_s_xp, logits_t_xp : Tensor, float, shape [B', C], optional
        Student and teacher logits on x' (B' may differ from B for picking schemes).

    Returns
    -------
    Tensor
        The scalar loss.
    """
    loss = CE_WEIGHT * F.cross_entropy(logits_s_x.float(), labels)
    kd = kl_tau(logits_s_x, logits_t_x)
    if logits_s_xp is not None:
        kd = kd + kl_tau(logits_s_xp, logits_t_xp)
    return loss + KD_WEIGHT * kd
