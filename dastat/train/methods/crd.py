"""Contrastive representation distillation (Tian et al. 2020; RepDistiller ``crd/``).

The loss, its embeddings and its memory keep the reference's state-dict names
(``embed_s.linear.*``, ``embed_t.linear.*``, ``contrast.params``, ``contrast.memory_v1``,
``contrast.memory_v2``), so a reference module's ``state_dict()`` loads as it is. Unlike the reference,
nothing here reads a value back to the host: the normalisation constants are set on the device, and
negatives come from a ``torch.Generator`` on the memory's device.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor, nn

from dastat.checks import check_float, check_int
from dastat.errors import InvalidArgumentError
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes

_EPS = 1e-7  # the reference's eps in the NCE loss


class Normalize(nn.Module):
    """Divide each row by its L_power norm."""

    def __init__(self, power: int = 2):
        super().__init__()
        self.power = power

    def forward(self, x: Tensor) -> Tensor:
        return x / x.pow(self.power).sum(1, keepdim=True).pow(1.0 / self.power)


class Embed(nn.Module):
    """Flatten, project linearly, L2-normalise (state dict ``linear.*``)."""

    def __init__(self, dim_in: int = 1024, dim_out: int = 128):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)
        self.l2norm = Normalize(2)

    def forward(self, x: Tensor) -> Tensor:
        return self.l2norm(self.linear(x.view(x.shape[0], -1)))


def _is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _gather(t: Tensor) -> Tensor:
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def _scores(memory: Tensor, v: Tensor, idx: Tensor) -> Tensor:
    """Dot products ``[B, K+1, 1]`` of each embedding ``v[b]`` with the memory rows ``idx[b]``.

    Gathering the rows reads ``B (K+1)`` embeddings; scoring every memory row in one matrix product
    reads the memory once and costs ``n / (K+1)`` times the arithmetic, which is cheaper while the
    memory is not much larger than the negatives (CIFAR-100: 50,000 rows against 16,385 per image).
    The two give the same dot products up to the order of their additions. The product keeps a copy of
    the memory for the backward pass (the memory is updated in place after the scores).
    """
    b, d = v.shape
    if memory.shape[0] <= 4 * idx.shape[1]:
        return (v @ memory.clone().T).gather(1, idx).unsqueeze(2)
    return torch.bmm(memory.index_select(0, idx.reshape(-1)).view(b, -1, d), v.view(b, d, 1))


class ContrastMemory(nn.Module):
    """Memory of one embedding per training sample and view, updated with momentum after each call.

    ``params`` holds ``[K, T, Z_v1, Z_v2, momentum]``; the Z constants start at -1 and are set from the
    first call's scores (mean score times the memory size), as the reference does. Under
    ``torch.distributed`` every rank updates its memory with all ranks' embeddings (and the first
    call's Z are averaged), so the memories stay one and the same.
    """

    def __init__(self, inputSize: int, outputSize: int, K: int, T: float = 0.07, momentum: float = 0.5,
                 *, generator: torch.Generator | None = None):
        super().__init__()
        self.register_buffer("params", torch.tensor([K, T, -1.0, -1.0, momentum]))
        stdv = 1.0 / math.sqrt(inputSize / 3)
        for name in ("memory_v1", "memory_v2"):
            init = torch.rand(outputSize, inputSize, generator=generator).mul_(2 * stdv).add_(-stdv)
            self.register_buffer(name, init)

    def forward(self, v1: Tensor, v2: Tensor, y: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Scores ``[B, K+1, 1]`` of student ``v1`` against the teacher memory at ``idx`` and vice versa.

        ``y``: ``[B]`` dataset indices of the batch; ``idx``: ``[B, K+1]`` memory rows to score
        (column 0 the positive).
        """
        n = self.memory_v1.shape[0]
        temperature, momentum = self.params[1].clone(), self.params[4].clone()  # params changes below
        # Student embeddings meet the teacher's memory and teacher embeddings the student's.
        out_v2 = torch.exp(_scores(self.memory_v1, v2, idx) / temperature)
        out_v1 = torch.exp(_scores(self.memory_v2, v1, idx) / temperature)
        with torch.no_grad():
            z_new = torch.stack([out_v1.mean(), out_v2.mean()]) * n
            if _is_distributed():
                dist.all_reduce(z_new)
                z_new /= dist.get_world_size()
            z = torch.where(self.params[2:4] < 0, z_new.to(self.params.dtype), self.params[2:4])
            self.params[2:4] = z
            z = z.to(out_v1.dtype)
        out_v1, out_v2 = out_v1 / z[0], out_v2 / z[1]
        with torch.no_grad():
            if _is_distributed():
                v1, v2, y = _gather(v1.detach()), _gather(v2.detach()), _gather(y)
            self._update(self.memory_v1, v1, y, momentum)
            self._update(self.memory_v2, v2, y, momentum)
        return out_v1, out_v2

    @staticmethod
    def _update(memory: Tensor, v: Tensor, y: Tensor, momentum: Tensor) -> None:
        pos = memory.index_select(0, y) * momentum + v.detach() * (1 - momentum)
        memory.index_copy_(0, y, pos / pos.pow(2).sum(1, keepdim=True).pow(0.5))


class ContrastLoss(nn.Module):
    """The NCE loss of CRD (its Eq. 18) on ``[B, K+1, 1]`` scores whose column 0 is the positive."""

    def __init__(self, n_data: int):
        super().__init__()
        self.n_data = n_data

    def forward(self, x: Tensor) -> Tensor:
        b, m = x.shape[0], x.size(1) - 1
        noise = m / float(self.n_data)  # m * P_n, P_n the uniform noise distribution
        pos = x.select(1, 0)
        log_d1 = torch.log(pos / (pos + (noise + _EPS)))
        neg = x.narrow(1, 1, m)
        log_d0 = torch.log(torch.full_like(neg, noise) / (neg + (noise + _EPS)))
        return -(log_d1.sum(0) + log_d0.view(-1, 1).sum(0)) / b  # [1], as the reference returns it


class CRDLoss(nn.Module):
    """CRD: student and teacher embeddings contrasted against a memory of the whole training set.

    Parameters
    ----------
    s_dim, t_dim : int
        Dimensions of the student's and teacher's features (penultimate vectors).
    feat_dim : int
        Dimension of the shared embedding space.
    nce_k : int
        Negatives per positive.
    nce_t : float
        Temperature of the scores.
    nce_m : float
        Momentum of the memory update.
    n_data : int
        Training-set size (memory rows).
    generator : torch.Generator, optional
        Draws the memory's initial values (CPU; the module is moved afterwards).
    """

    def __init__(self, s_dim: int, t_dim: int, n_data: int, feat_dim: int = 128, nce_k: int = 16384,
                 nce_t: float = 0.07, nce_m: float = 0.5, *, generator: torch.Generator | None = None):
        super().__init__()
        s_dim, t_dim = check_int(s_dim, "s_dim", low=1), check_int(t_dim, "t_dim", low=1)
        self.n_data = check_int(n_data, "n_data", low=2)
        feat_dim, self.nce_k = check_int(feat_dim, "feat_dim", low=1), check_int(nce_k, "nce_k", low=1)
        nce_t = check_float(nce_t, "nce_t", low=0, low_open=True)
        nce_m = check_float(nce_m, "nce_m", low=0, high=1)
        self.embed_s = Embed(s_dim, feat_dim)
        self.embed_t = Embed(t_dim, feat_dim)
        self.contrast = ContrastMemory(feat_dim, self.n_data, self.nce_k, nce_t, nce_m, generator=generator)
        self.criterion_t = ContrastLoss(self.n_data)
        self.criterion_s = ContrastLoss(self.n_data)

    def forward(self, f_s: Tensor, f_t: Tensor, idx: Tensor, contrast_idx: Tensor | None = None, *,
                generator: torch.Generator | None = None) -> Tensor:
        """The loss (shape ``[1]``) of one batch; updates the memory rows of ``idx``.

        Parameters
        ----------
        f_s, f_t : Tensor, shape [B, s_dim] and [B, t_dim]
        idx : Tensor, int64, shape [B]
            Dataset indices of the batch.
        contrast_idx : Tensor, int64, shape [B, nce_k + 1], optional
            Memory rows to score, column 0 the positive (``idx``); by default column 0 is ``idx`` and
            the negatives are drawn uniformly over the memory from ``generator``.
        """
        if contrast_idx is None:
            negatives = torch.randint(self.n_data, (len(idx), self.nce_k), generator=generator, device=idx.device)
            contrast_idx = torch.cat([idx.view(-1, 1), negatives], dim=1)
        elif contrast_idx.shape != (len(idx), self.nce_k + 1):
            raise InvalidArgumentError(
                f"contrast_idx must have shape [B, nce_k + 1] = [{len(idx)}, {self.nce_k + 1}]; "
                f"got {list(contrast_idx.shape)}"
            )
        out_s, out_t = self.contrast(self.embed_s(f_s), self.embed_t(f_t), idx, contrast_idx)
        return self.criterion_s(out_s) + self.criterion_t(out_t)


class OtherClassNegatives:
    """Draws CRD's memory rows for a batch: the sample itself, then ``num`` samples of other classes.

    The reference's ``exact`` mode (its ``CIFAR100InstanceSample``) draws negatives among the samples of
    the other classes; here they are drawn uniformly *with* replacement (the reference draws without
    replacement when ``nce_k`` is below the pool size), all rows at once on the labels' device.

    Parameters
    ----------
    labels : Tensor, int64, shape [N]
        Labels of the whole training set (at least two classes present).
    num : int
        Negatives per sample.
    """

    def __init__(self, labels: Tensor, num: int):
        counts = torch.bincount(labels)
        if int((counts > 0).sum()) < 2:
            raise InvalidArgumentError("CRD needs a training set with at least two classes to draw negatives from")
        self.labels, self.num, self.counts = labels, num, counts
        self.order = torch.argsort(labels, stable=True)  # sample ids grouped by class
        self.starts = torch.cumsum(counts, 0) - counts

    def __call__(self, index: Tensor, generator: torch.Generator) -> Tensor:
        """``[B, num + 1]`` rows for dataset indices ``index`` ``[B]``; column 0 is ``index``."""
        y = self.labels[index]
        count, start = self.counts[y][:, None], self.starts[y][:, None]
        pool = len(self.labels) - count  # [B, 1] samples of the other classes
        u = (torch.rand(len(index), self.num, generator=generator, device=index.device) * pool).long()
        u = torch.minimum(u, pool - 1)
        # Skip over the row's own class block in the class-sorted order.
        return torch.cat([index.view(-1, 1), self.order[u + (u >= start) * count]], dim=1)


class _CRDTerm(MethodTerm):
    needs_index = True
    needs_stages = False

    def __init__(self, crd: CRDLoss, negatives: OtherClassNegatives):
        super().__init__()
        self.crd = crd
        self.negatives = negatives

    def term(self, feat_s, feat_t, index, generator):
        return self.crd(feat_s[-1], feat_t[-1], index, self.negatives(index, generator))


@register_method("crd", summary="CRD: contrast pooled features against a memory of the training set (Tian et al. 2020)",
                 loss=CRDLoss, beta=0.8)
def build_crd(shapes: PairShapes, feat_dim: int = 128, nce_k: int = 16384, nce_t: float = 0.07,
              nce_m: float = 0.5) -> MethodTerm:
    crd = CRDLoss(shapes.s_shapes[-1][1], shapes.t_shapes[-1][1], shapes.n_data, feat_dim, nce_k, nce_t, nce_m)
    return _CRDTerm(crd, OtherClassNegatives(shapes.labels, crd.nce_k))
