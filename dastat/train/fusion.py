"""Horizontal fusion: N networks of one architecture as one network with grouped layers.

Member i owns channels ``[i*C, (i+1)*C)`` of every feature map. A convolution with ``groups = N*g``
is N independent convolutions, a BatchNorm over ``N*C`` channels is N independent BatchNorms (per
channel statistics, running averages included), and a grouped linear layer is N independent heads, so
one forward, backward and (element-wise) SGD step of the fused network is the N members' steps.
Members' parameters and buffers are views into the fused tensors (:meth:`FusedClassifier.member`), so
they are always current and nothing is copied back.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dastat.errors import InvalidArgumentError

# Attributes holding a channel count that a forward reads (RepDistiller's WideResNet flattens with
# ``view(-1, self.nChannels)``): the fused copy holds N times as many channels.
_CHANNEL_ATTRIBUTES = ("nChannels",)


class FusionError(InvalidArgumentError):
    """The architecture cannot be fused (a layer mixes members' channels or draws random numbers)."""


class GroupedConv2d(nn.Conv2d):
    """N convolutions side by side (``groups = N * g``). On the CPU each member's is a plain convolution.

    oneDNN's grouped kernel adds a member's weight gradient (and the first layer's outputs) in another
    order than the member's own convolution, and float32 training magnifies that rounding over an epoch;
    the members' own kernels give bit for bit what each run computes alone, and on the CPU they are no
    slower (docs/benchmarks.md, "Cohort training"). On CUDA the one grouped kernel is kept: the speed.
    """

    def __init__(self, n: int, conv: nn.Conv2d):
        super().__init__(conv.in_channels * n, conv.out_channels * n, conv.kernel_size, conv.stride, conv.padding,
                         conv.dilation, conv.groups * n, bias=conv.bias is not None)
        self.n = n

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        weights = self.weight.chunk(self.n)
        biases = [None] * self.n if self.bias is None else self.bias.chunk(self.n)
        return torch.cat([F.conv2d(xi, w, b, self.stride, self.padding, self.dilation, self.groups // self.n)
                          for xi, w, b in zip(x.chunk(self.n, 1), weights, biases)], 1)


class _MemberBias(torch.autograd.Function):
    """``out + bias[:, None]`` for ``out [N, B, O]``; each member's bias gradient is summed over a
    contiguous ``[B, O]`` block, in the order ``nn.Linear`` alone sums it."""

    @staticmethod
    def forward(ctx, out: Tensor, bias: Tensor) -> Tensor:
        ctx.bias_dtype = bias.dtype
        return out + bias.to(out.dtype)[:, None]

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:
        return grad, grad.contiguous().sum(1).to(ctx.bias_dtype)


class GroupedLinear(nn.Module):
    """N linear layers ``in -> out`` side by side: ``[B, N*in] -> [B, N*out]``; weight ``[N*out, in]``.

    On the CPU each member's is a plain ``F.linear``: a batched product blocks the weight gradient
    differently from a member's own on some CPUs (1e-7 apart on an AMD EPYC), so, as in
    :class:`GroupedConv2d`, the members' own kernels keep them bit for bit. On CUDA one batched product.
    """

    def __init__(self, n: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.n, self.in_features, self.out_features = n, in_features, out_features
        self.weight = nn.Parameter(torch.empty(n * out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n * out_features)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        if x.device.type == "cpu":
            biases = [None] * self.n if self.bias is None else self.bias.chunk(self.n)
            return torch.cat([F.linear(xi.contiguous(), w, bi)
                              for xi, w, bi in zip(x.chunk(self.n, 1), self.weight.chunk(self.n), biases)], 1)
        w = self.weight.view(self.n, self.out_features, self.in_features)
        out = torch.bmm(x.reshape(b, self.n, self.in_features).transpose(0, 1), w.transpose(1, 2))  # [N, B, out]
        if self.bias is not None:
            out = _MemberBias.apply(out, self.bias.view(self.n, self.out_features))
        return out.transpose(0, 1).reshape(b, self.n * self.out_features)


def _fused_leaf(module: nn.Module, n: int) -> nn.Module | None:
    """The grouped counterpart of a layer with parameters or buffers; None for a parameter-free one."""
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise FusionError(f"cannot fuse a Conv2d with padding_mode={module.padding_mode!r}")
        return GroupedConv2d(n, module)
    if isinstance(module, nn.BatchNorm2d):
        return nn.BatchNorm2d(module.num_features * n, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
    if isinstance(module, nn.Linear):
        return GroupedLinear(n, module.in_features, module.out_features, module.bias is not None)
    if isinstance(module, nn.Dropout) and module.p > 0:
        raise FusionError("cannot fuse a network with dropout: the members would draw other random numbers "
                          "than when trained alone")
    if any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False)):
        raise FusionError(f"cannot fuse layer {type(module).__name__} (only Conv2d, BatchNorm2d and Linear "
                          "carry parameters in a fusable network)")
    return None


def _fuse_tree(module: nn.Module, n: int) -> nn.Module:
    fused = _fused_leaf(module, n)
    if fused is not None:
        return fused
    shell = copy.copy(module)  # same class and attributes, own child dictionary
    shell._modules = {name: None if child is None else _fuse_tree(child, n)
                      for name, child in module._modules.items()}
    shell._parameters, shell._buffers = {}, dict(module._buffers)
    for name in _CHANNEL_ATTRIBUTES:
        if isinstance(getattr(module, name, None), int):
            setattr(shell, name, getattr(module, name) * n)
    return shell


def _leaves(module: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in module.named_modules()
            if any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False))}


class FusedClassifier(nn.Module):
    """N ``dastat.models.Classifier`` members of one architecture trained as one network.

    Call it with N uint8 batches of equal size (a list, or a tensor ``[N, B, 3, H, W]``); it returns
    logits ``[N, B, C]``: member i's network applied to batch i.
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 1:
            raise InvalidArgumentError("a fused network needs at least one member")
        n = len(members)
        first = members[0]
        self.n, self.num_classes = n, first.num_classes
        self.normalize = copy.deepcopy(first.normalize)
        reference = next(first.net.parameters())
        self.net = _fuse_tree(first.net, n).to(reference.device, reference.dtype)
        self.channels_last = False  # set by the trainer: convert the fused input on CUDA
        self._templates = [copy.deepcopy(m) for m in members]
        names = list(_leaves(first.net))
        for other in members[1:]:
            if list(_leaves(other.net)) != names:
                raise InvalidArgumentError("members of a fused network must share one architecture")
        self.load_members([m.net.state_dict() for m in members])

    def load_members(self, states: Sequence[dict[str, Tensor]]) -> None:
        """Set every member's weights and buffers from its network's ``state_dict``."""
        with torch.no_grad():
            for name, tensor in self.net.state_dict(keep_vars=True).items():
                parts = [s[name].to(tensor.device, tensor.dtype) for s in states]
                if name.endswith("num_batches_tracked"):
                    tensor.copy_(parts[0])
                else:
                    tensor.copy_(torch.cat([p.reshape(-1, *tensor.shape[1:]) for p in parts]))

    def forward(self, batches: Sequence[Tensor] | Tensor) -> Tensor:
        x = torch.stack(list(batches)) if not isinstance(batches, Tensor) else batches  # [N, B, 3, H, W]
        n, b = x.shape[:2]
        x = self.normalize(x.reshape(n * b, *x.shape[2:])).view(n, b, *x.shape[2:])
        x = x.transpose(0, 1).reshape(b, n * x.shape[2], *x.shape[3:])  # [B, N*3, H, W], member-major
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self.net(x)  # [B, N*C]
        return logits.view(b, n, -1).transpose(0, 1)  # [N, B, C]

    def blank(self, i: int) -> nn.Module:
        """A fresh copy of member i as it was given (its own parameters, the initial weights)."""
        return copy.deepcopy(self._templates[i])

    def member(self, i: int) -> nn.Module:
        """Member i as a Classifier whose weights and buffers are views into this network's tensors."""
        view = self.blank(i)
        fused_leaves = dict(self.net.named_modules())
        for name, leaf in _leaves(view.net).items():
            fused = fused_leaves[name]
            for kind in ("_parameters", "_buffers"):
                for key in list(getattr(leaf, kind)):
                    if getattr(leaf, kind)[key] is None:
                        continue
                    whole = getattr(fused, key)
                    # Splitting dim 0 is a view whatever the memory format (channels_last weights too).
                    part = whole if key == "num_batches_tracked" else whole.unflatten(0, (self.n, -1))[i]
                    del getattr(leaf, kind)[key]
                    leaf.register_buffer(key, part.detach() if kind == "_parameters" else part)
        return view

    def member_state(self, i: int) -> dict[str, Tensor]:
        """A copy of member i's ``state_dict`` (a Classifier's: the network's keys under ``net.``)."""
        return {k: v.clone() for k, v in self.member(i).state_dict().items()}

    def check(self, images: Tensor, members: Sequence[nn.Module]) -> None:
        """Refuse a fusion whose forward differs from the members' (a layer that mixes channels)."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                try:
                    fused = self([images] * self.n).float()
                except RuntimeError as err:  # a reshape to the members' channel count
                    raise FusionError(f"this architecture cannot be fused ({err}); train its runs alone") from err
                for i, m in enumerate(members):
                    m.eval()
                    alone = m(images).float()
                    if not torch.allclose(fused[i], alone, rtol=1e-3, atol=1e-4 * (1 + alone.abs().max().item())):
                        raise FusionError("this architecture mixes channels across layers (a channel shuffle or "
                                          "a reshape), so its members cannot be fused")
        finally:
            self.train(was_training)
