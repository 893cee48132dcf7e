"""Factor transfer (Kim et al. 2018; RepDistiller ``FactorTransfer``, ``Paraphraser``, ``Translator``)."""

from __future__ import annotations

import itertools

import torch.nn.functional as F
from torch import Tensor, nn

from dastat.checks import check_float
from dastat.train.methods.attention import attention_map
from dastat.train.methods.pooling import match_spatial
from dastat.train.methods.registry import register_method
from dastat.train.methods.term import MethodTerm, PairShapes


class FactorTransfer(nn.Module):
    """Distance between the normalised spatial maps of the translated student and paraphrased teacher factors.

    Parameters
    ----------
    p1 : float
        Power applied to the factors before averaging over channels.
    p2 : float
        1 for the mean absolute difference, else the mean of ``difference ** p2``.
    """

    def __init__(self, p1: float = 2, p2: float = 1):
        super().__init__()
        self.p1 = check_float(p1, "p1", low=0, low_open=True)
        self.p2 = check_float(p2, "p2", low=0, low_open=True)

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        f_s, f_t = match_spatial(f_s, f_t)
        diff = attention_map(f_s, self.p1) - attention_map(f_t, self.p1)
        return diff.abs().mean() if self.p2 == 1 else diff.pow(self.p2).mean()


def _conv_stack(channels: list[int], conv, use_bn: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_in, c_out in itertools.pairwise(channels):
        layers += [conv(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out) if use_bn else nn.Sequential(),
                   nn.LeakyReLU(0.1, inplace=True)]
    return nn.Sequential(*layers)


class Paraphraser(nn.Module):
    """Convolutional auto-encoder of the teacher's feature; its code is the teacher's factor.

    Parameters
    ----------
    t_shape : sequence of 4 ints
        ``[B, C, H, W]`` of the teacher feature.
    k : float
        Factor channels as a fraction of the teacher's channels.
    use_bn : bool
        BatchNorm after each convolution.
    """

    def __init__(self, t_shape, k: float = 0.5, use_bn: bool = False):
        super().__init__()
        c = int(t_shape[1])
        c_factor = int(c * check_float(k, "k", low=0, low_open=True))
        self.encoder = _conv_stack([c, c, c_factor, c_factor], nn.Conv2d, use_bn)
        self.decoder = _conv_stack([c_factor, c_factor, c, c], nn.ConvTranspose2d, use_bn)

    def forward(self, f_s: Tensor, is_factor: bool = False):
        """The factor (``is_factor=True``), or ``(factor, reconstruction)``."""
        factor = self.encoder(f_s)
        return factor if is_factor else (factor, self.decoder(factor))


class Translator(nn.Module):
    """Convolutional encoder of the student's feature into the teacher factor's channels."""

    def __init__(self, s_shape, t_shape, k: float = 0.5, use_bn: bool = True):
        super().__init__()
        c_in, c_factor = int(s_shape[1]), int(int(t_shape[1]) * check_float(k, "k", low=0, low_open=True))
        self.encoder = _conv_stack([c_in, c_in, c_factor, c_factor], nn.Conv2d, use_bn)

    def forward(self, f_s: Tensor) -> Tensor:
        return self.encoder(f_s)


# RepDistiller pre-trains FT's paraphraser at lr 0.01 for these students, at the run's lr otherwise.
_LOW_INIT_LR = ("resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                "resnet8x4", "resnet32x4", "wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2")


class _FactorTerm(MethodTerm):
    """FT: a paraphraser pre-trained to auto-encode the teacher's last map (then frozen) gives the
    teacher's factor; a translator trained with the student gives the student's."""

    has_init_stage = True
    init_trains_student = False

    def __init__(self, s_shape, t_shape, student_arch: str):
        super().__init__()
        self.student_arch = student_arch
        self.translator = Translator(s_shape, t_shape)
        self.paraphraser = Paraphraser(t_shape)
        self.paraphraser.requires_grad_(False)  # trained in the pre-training stage only
        self.loss = FactorTransfer()

    def train(self, mode: bool = True):
        super().train(mode)
        self.paraphraser.eval()  # the reference keeps it in eval mode while the student trains
        return self

    def term(self, feat_s, feat_t, index, generator):
        return self.loss(self.translator(feat_s[-2]), self.paraphraser(feat_t[-2], is_factor=True))

    def init_parameters(self, student):
        return list(self.paraphraser.parameters())

    def init_loss(self, feat_s, feat_t):
        _, rec = self.paraphraser(feat_t[-2])
        return F.mse_loss(rec, feat_t[-2])

    def init_lr(self, lr: float) -> float:
        return 0.01 if self.student_arch in _LOW_INIT_LR else lr


@register_method("factor", summary="FT: match translated student and paraphrased teacher factors (Kim et al. 2018)",
                 loss=FactorTransfer, beta=200)
def build_factor(shapes: PairShapes) -> MethodTerm:
    return _FactorTerm(shapes.s_shapes[-2], shapes.t_shapes[-2], shapes.student_arch)
