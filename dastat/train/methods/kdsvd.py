"""Self-supervised KD with singular value decomposition (Lee et al. 2018; RepDistiller ``KDSVD``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dastat.checks import check_int
from dastat.errors import NumericalError
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes


def _finite(x: Tensor) -> Tensor:
    return torch.where(torch.isfinite(x), x, torch.zeros_like(x))


def _top_singular(feat: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Singular values [B, n] and right singular vectors [B, C, n] of each [HW, C] map, normalised."""
    b, c, h, _ = feat.shape
    x = feat.reshape(b, c, h * h).transpose(-2, -1)  # [B, HW, C]; the reference keys on H only
    if x.requires_grad:
        # The SVD's gradient is infinite where a map has repeated singular values (ReLU maps do, within a few
        # epochs on digits): keep that sample's term out of the step, as the reference's removenan keeps the
        # forward's NaN out (docs/method.md, "Deviations from the reference code").
        x.register_hook(_finite)
    try:
        _, s, vh = torch.linalg.svd(x, full_matrices=False)
    except torch.linalg.LinAlgError:  # non-finite features: the run diverged before this step
        raise NumericalError("kdsvd: the feature maps became NaN/inf (the run diverged); training stopped. "
                             "Lower the learning rate (--lr) or the method's weight (--beta)") from None
    s, v = _finite(s), _finite(vh.transpose(-2, -1))
    return F.normalize(s[:, :n], dim=1), F.normalize(v[:, :, :n], dim=1)


def _align(a: Tensor, b: Tensor) -> Tensor:
    """Flip and pick ``a``'s columns to match ``b``'s by the largest absolute cosine."""
    cosine = a.transpose(-2, -1) @ b  # [B, n_a, n_b]
    best = cosine.abs().max(1, keepdim=True).values
    mask = torch.where(best == cosine.abs(), torch.sign(cosine), torch.zeros_like(cosine))
    return a @ mask


class KDSVD(nn.Module):
    """Match RBF kernels of the top-k singular vectors between consecutive feature maps.

    Parameters
    ----------
    k : int
        Singular vectors kept on the teacher side (the student keeps k + 3 and aligns them).

    Returns one value per consecutive pair (``len(g_s) - 1`` values).
    """

    def __init__(self, k: int = 1):
        super().__init__()
        self.k = check_int(k, "k", low=1)

    def forward(self, g_s: list[Tensor], g_t: list[Tensor]) -> list[Tensor]:
        losses, prev_s, prev_t = [], None, None
        for f_s, f_t in zip(g_s, g_t):
            s_t, v_t = _top_singular(f_t, self.k)
            _, v_s = _top_singular(f_s, self.k + 3)
            v_s = _align(v_s, v_t)
            v_t, v_s = v_t * s_t.unsqueeze(1), v_s * s_t.unsqueeze(1)
            if prev_s is not None:
                s_rbf = torch.exp(-(v_s.unsqueeze(2) - prev_s.unsqueeze(1)).pow(2) / 8)
                t_rbf = torch.exp(-(v_t.unsqueeze(2) - prev_t.unsqueeze(1)).pow(2) / 8)
                losses.append(_finite((s_rbf - t_rbf.detach()).pow(2)).sum())
            prev_s, prev_t = v_s, v_t
        b = g_s[0].shape[0]
        return [loss / b for loss in losses]


class _KDSVDTerm(MethodTerm):
    def __init__(self, k: int):
        super().__init__()
        self.loss = KDSVD(k)

    def term(self, feat_s, feat_t, index, generator):
        return sum(self.loss(feat_s[1:-1], feat_t[1:-1]))


# RepDistiller's published commands give no weight for KDSVD; 1 leaves its term at its own scale.
@register_method("kdsvd", summary="KDSVD: RBF kernels of singular vectors across stages (Lee et al. 2018)",
                 loss=KDSVD, beta=1)
def build_kdsvd(shapes: PairShapes, k: int = 1) -> MethodTerm:
    return _KDSVDTerm(k)
