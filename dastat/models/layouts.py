"""Finding the state_dict inside the checkpoint layouts met in the wild (docs/method.md, "Models and checkpoints").

| layout | what the file holds |
|---|---|
| dastat | ``{'format': 'dastat-checkpoint', 'arch', 'num_classes', 'image_size', 'mean', 'std', 'model', 'meta'}`` |
| repdistiller | ``{'epoch', 'model', 'accuracy' or 'best_acc', 'optimizer'?}`` (RepDistiller / CRD / Good-DA-in-KD) |
| repdistiller-last | ``{'opt': Namespace, 'model', 'optimizer'?}`` (needs the Namespace allow-listed) |
| torchdistill | ``{'model', 'optimizer', 'best_value', 'lr_scheduler', 'args'}`` |
| mdistiller | ``{'model': state_dict}`` |
| dict | ``{'state_dict' or 'model_state_dict' or 'net': state_dict, ...}`` |
| state_dict | a bare ``{name: tensor}`` mapping |

A ``module.`` prefix on every key (DataParallel) is stripped, as is a ``net.`` prefix (the state_dict
of a whole :class:`~dastat.models.Classifier`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from dastat.errors import CheckpointError

DASTAT_FORMAT = "dastat-checkpoint"

_STATE_KEYS = ("model", "state_dict", "model_state_dict", "net")


@dataclass
class Unpacked:
    """A checkpoint's weights and what it says about itself."""

    state_dict: dict[str, Tensor]
    layout: str
    meta: dict = field(default_factory=dict)  # arch, num_classes, image_size, mean, std when stored


def _is_state_dict(obj: object) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, Tensor) for v in obj.values())
    )


def _options(obj: Mapping) -> dict:
    """Training options stored beside the weights (RepDistiller ``opt``, torchdistill ``args``)."""
    for key in ("opt", "args"):
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            return dict(value)
        if hasattr(value, "__dict__"):
            return dict(vars(value))
    return {}


def _name_layout(keys: set[str]) -> str:
    if {"best_value", "lr_scheduler"} <= keys:
        return "torchdistill"
    if "opt" in keys:
        return "repdistiller-last"
    if "epoch" in keys and keys & {"accuracy", "best_acc"}:
        return "repdistiller"
    if keys == {"model"}:
        return "mdistiller"
    return "dict"


def _strip(state_dict: dict[str, Tensor], prefix: str) -> tuple[dict[str, Tensor], bool]:
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix) :]: v for k, v in state_dict.items()}, True
    return state_dict, False


def unpack(obj: object, path: Path) -> Unpacked:
    """The state_dict, layout name and stored metadata of an unpickled checkpoint.

    Raises
    ------
    CheckpointError
        No state_dict can be found in ``obj``.
    """
    meta: dict = {}
    if isinstance(obj, Mapping) and obj.get("format") == DASTAT_FORMAT:
        state, layout = obj.get("model"), "dastat"
        meta = {k: obj.get(k) for k in ("arch", "num_classes", "image_size", "mean", "std")}
        meta.update(obj.get("meta") or {})
    elif isinstance(obj, nn.Module):  # a whole pickled model (only loads with trust=True)
        state, layout = obj.state_dict(), "module"
        meta["arch"] = getattr(obj, "arch", None)
    elif _is_state_dict(obj):
        state, layout = obj, "state_dict"
    elif isinstance(obj, Mapping):
        found = next((k for k in _STATE_KEYS if k in obj), None)
        if found is None:
            keys = ", ".join(map(repr, list(obj)[:10])) or "none"
            raise CheckpointError(
                f"checkpoint {path} holds no model weights: its top-level keys are {keys}, and none of "
                f"{', '.join(map(repr, _STATE_KEYS))} is among them, nor is it a bare state_dict. "
                "Save the model's state_dict (dastat.models.save_checkpoint writes the expected layout)."
            )
        state = obj[found]
        if isinstance(state, nn.Module):
            state = state.state_dict()
        layout = _name_layout(set(obj)) if found == "model" else f"dict['{found}']"
        options = _options(obj)
        meta["arch"] = obj.get("arch") or options.get("model") or options.get("model_s") or options.get("arch")
    else:
        raise CheckpointError(
            f"checkpoint {path} holds a {type(obj).__name__}, not model weights; expected a state_dict or "
            "a dict with a 'model' / 'state_dict' entry."
        )
    if not _is_state_dict(state):
        raise CheckpointError(
            f"checkpoint {path} ({layout} layout): the weights entry is a {type(state).__name__}, "
            "not a mapping of parameter names to tensors."
        )
    state = dict(state)
    state, stripped = _strip(state, "module.")
    if stripped:
        layout += "+module."
    state, stripped = _strip(state, "net.")
    if stripped:
        layout += "+net."
    return Unpacked(state, layout, {k: v for k, v in meta.items() if v is not None})


def classifier_entry(state_dict: Mapping[str, Tensor]) -> tuple[str, int] | None:
    """The classifier's weight ``(name, out_features)``: the last 2-D ``*.weight`` entry.

    Every zoo network (RepDistiller's and torchvision's) registers its classifier last.
    """
    for name in reversed(list(state_dict)):
        value = state_dict[name]
        if name.endswith("weight") and value.ndim == 2:
            return name, int(value.shape[0])
    return None


def arch_from_folder(path: Path, known) -> str | None:
    """RepDistiller's rule: the parent folder ``<arch>_vanilla`` (``wrn`` names keep three tokens).

    ``train_student.py`` splits the folder name on ``_`` and keeps the first token, or the first
    three when it is ``wrn``. Student folders (``S:<arch>_T:...``) are read the same way. When the rule
    gives no known name, the longest ``_``-joined prefix that is a known name is used (``tv_resnet18_x``).
    """
    folder = path.parent.name
    if folder.startswith("S:"):
        folder = folder[2:]
    tokens = folder.split("_")
    arch = "_".join(tokens[:3]) if tokens[0] == "wrn" else tokens[0]
    if arch in known:
        return arch
    for end in range(len(tokens), 0, -1):
        if "_".join(tokens[:end]) in known:
            return "_".join(tokens[:end])
    return None


def signature(net: nn.Module) -> dict[str, tuple[int, ...]]:
    """Ordered ``{key: shape}`` of a network's state_dict."""
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def shape_of(value: Tensor) -> tuple[int, ...]:
    return tuple(value.shape) if isinstance(value, Tensor) else ()


def fill_counters(state_dict: dict[str, Tensor], expected: Mapping[str, tuple]) -> dict[str, Tensor]:
    """Add BatchNorm ``num_batches_tracked`` counters absent from files written before PyTorch 0.4.1."""
    missing = [k for k in expected if k not in state_dict and k.endswith("num_batches_tracked")]
    if not missing:
        return state_dict
    out = dict(state_dict)
    for key in missing:
        out[key] = torch.tensor(0, dtype=torch.long)
    return out
