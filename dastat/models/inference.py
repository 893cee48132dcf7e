"""A teacher's inference copy: BatchNorm folded into the convolution before it, channels-last layout.

The probe only ever runs its teacher forward in eval mode, so each ``Conv2d -> BatchNorm2d`` pair whose
convolution feeds nothing else is one convolution with scaled weights and a bias, and convolutions in
the channels-last layout use the faster CPU and cuDNN kernels. Both change float32 logits only in their
last bits (about 1e-6 relative; docs/benchmarks.md, "probe"). Finding the pairs needs the network's
data flow, which ``torch.fx`` traces with the forward's keyword defaults held fixed; in a network it cannot
trace, only the pairs that are neighbours in an ``nn.Sequential`` fold.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import weakref

import torch
from torch import Tensor, fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

#: The copy's logits must equal the original's to this, relative to the largest logit, on a sample.
AGREEMENT = 1e-3


def inference_copy(model: nn.Module, sample: Tensor | None = None) -> nn.Module:
    """An eval-mode copy of ``model`` with its BatchNorms folded and channels-last layout.

    The copy is kept while ``model`` lives and reused as long as none of its parameters or buffers
    has been replaced or changed in place (repeated probes of one teacher pay for it once).

    Parameters
    ----------
    model : nn.Module
        A classifier (typically a ``Classifier``: its ``net`` is folded, the normalisation kept).
    sample : Tensor, optional
        Images the copy must agree on (to ``AGREEMENT`` relative to the largest logit); where it does
        not, ``model`` itself is returned.

    Returns
    -------
    nn.Module
        The copy, called like ``model`` without keyword arguments.
    """
    state = _state(model)
    kept = _COPIES.get(model)
    if kept is not None and kept[0] == state:
        return model if kept[1] is None else kept[1]
    out = copy.deepcopy(model).eval()
    if isinstance(getattr(out, "net", None), nn.Module):
        out.net = fold_batchnorm(out.net)
    else:
        out = fold_batchnorm(out)
    out = out.to(memory_format=torch.channels_last)
    if sample is not None and not _agrees(model, out, sample):
        _COPIES[model] = (state, None)  # not the model itself: a value must not keep its weak key alive
        return model
    _COPIES[model] = (state, out)
    return out


_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _state(model: nn.Module) -> tuple:
    """What the copy was made from: each tensor's identity, storage and in-place version, and the mode."""
    tensors = itertools.chain(model.parameters(), model.buffers())
    return model.training, tuple((id(t), t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """``net`` (eval mode) with every BatchNorm2d that only reads a Conv2d's output folded into it.

    Returns a traced copy; where ``torch.fx`` cannot trace ``net``, the pairs that are neighbours in an
    ``nn.Sequential`` are folded in ``net`` itself, which is returned.
    """
    defaults = {name: p.default for name, p in inspect.signature(net.forward).parameters.items()
                if p.default is not inspect.Parameter.empty}
    try:  # on a throwaway copy: tracing runs the forward, which may change the module's own state
        graph = fx.symbolic_trace(copy.deepcopy(net), concrete_args=defaults)
    except Exception:  # any untraceable forward (shape-dependent control flow, custom ops)
        _fold_sequentials(net)
        return net
    modules = dict(graph.named_modules())
    folded = 0
    for node in list(graph.graph.nodes):
        conv = node.args[0] if node.op == "call_module" and node.args else None
        if (isinstance(modules.get(node.target), nn.BatchNorm2d) and isinstance(conv, fx.Node)
                and conv.op == "call_module" and isinstance(modules.get(conv.target), nn.Conv2d)
                and len(conv.users) == 1):
            graph.add_submodule(conv.target, fuse_conv_bn_eval(modules[conv.target], modules[node.target]))
            node.replace_all_uses_with(conv)
            graph.graph.erase_node(node)
            folded += 1
    if not folded:
        return net
    graph.delete_all_unused_submodules()
    graph.recompile()
    return graph


def _fold_sequentials(net: nn.Module) -> None:
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(seq[i], seq[i + 1]), nn.Identity()


def _agrees(model: nn.Module, copy_: nn.Module, sample: Tensor) -> bool:
    with torch.inference_mode():
        want, got = model(sample).float(), copy_(sample).float()
    scale = float(want.abs().max().clamp_min(1e-12))
    return want.shape == got.shape and bool(((want - got).abs() <= AGREEMENT * scale).all())
