"""Loading teachers and students from checkpoint files; saving in dastat's own layout."""

from __future__ import annotations

import functools
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from dastat.checks import check_class_count
from dastat.device import resolve_device
from dastat.errors import CheckpointError, InvalidArgumentError
from dastat.models import layouts
from dastat.models.checkpoint_file import read_checkpoint, sha256_of
from dastat.models.classifier import Classifier
from dastat.models.normalisation import BY_DATASET, CIFAR100, IMAGENET, stats_for
from dastat.models.zoo import CIFAR_SIZE, MODELS, create

FORMAT_VERSION = 1

#: Classes of the datasets dastat knows by name, to catch a teacher trained on another dataset.
_DATASET_CLASSES = {"cifar100": 100, "cifar10": 10, "tinyimagenet": 200, "digits": 10}
_DATASET_SIZE = {"cifar100": 32, "cifar10": 32, "tinyimagenet": 64, "digits": 32}


@functools.cache
def _zoo_signature(arch: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """An architecture's ``(key, shape)`` pairs, the class count blanked out (see :func:`_comparable`)."""
    # Built on the meta device: shapes only, no memory and no init cost. A few torchvision builders
    # read tensor values while building (regnet); those are built for real.
    try:
        with torch.device("meta"):
            net = create(arch, num_classes=2)
    except (NotImplementedError, RuntimeError):
        net = create(arch, num_classes=2)
    return tuple(_comparable(layouts.signature(net)).items())


def _comparable(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Shapes with the classifier's output dimension set to -1, so one signature serves every class count."""
    out = {k: tuple(s) for k, s in shapes.items() if not k.endswith("num_batches_tracked")}
    head = layouts.classifier_entry({k: torch.empty(s, device="meta") for k, s in out.items()})
    if head is not None:
        name = head[0]
        out[name] = (-1, *out[name][1:])
        bias = name[: -len("weight")] + "bias"
        if bias in out and len(out[bias]) == 1:
            out[bias] = (-1,)
    return out


def _matching_archs(state_dict: Mapping[str, Tensor]) -> tuple[list[str], str, float]:
    """Zoo names whose key set and shapes equal the checkpoint's, and the closest one otherwise."""
    have = set(_comparable({k: layouts.shape_of(v) for k, v in state_dict.items()}).items())
    exact, best, best_score = [], "", -1.0
    for arch in MODELS.names():
        want = set(_zoo_signature(arch))
        if want == have:
            exact.append(arch)
        score = len(want & have) / max(len(want | have), 1)
        if score > best_score:
            best, best_score = arch, score
    return exact, best, best_score


def _describe_mismatch(state_dict: Mapping[str, Tensor], expected: Mapping[str, tuple], show: int = 5) -> str:
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k}: checkpoint {list(layouts.shape_of(state_dict[k]))} vs model {list(expected[k])}"
        for k in expected
        if k in state_dict and layouts.shape_of(state_dict[k]) != tuple(expected[k])
    ]
    parts = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)):
        if items:
            more = f", ... ({len(items) - show} more)" if len(items) > show else ""
            parts.append(f"{len(items)} {label} ({', '.join(items[:show])}{more})")
    return "; ".join(parts)


def _resolve_num_classes(unpacked: layouts.Unpacked, num_classes, dataset, path: Path) -> int:
    head = layouts.classifier_entry(unpacked.state_dict)
    stored = unpacked.meta.get("num_classes") or (head[1] if head else None)
    wanted, why = num_classes, "the num_classes asked for"
    if wanted is None and dataset is not None:
        wanted = getattr(dataset, "num_classes", None) or _DATASET_CLASSES.get(dataset)
        why = f"dataset {getattr(dataset, 'name', dataset)!r}"
    if wanted is not None:
        where = f"its classifier {head[0]!r}" if head else "its metadata"
        check_class_count(stored, wanted, model=f"checkpoint {path} ({where})", against=why,
                          fix="use a teacher trained on the same dataset (same class count), "
                              "or pass the matching dataset / num_classes")
        return int(wanted)
    if stored is None:
        raise CheckpointError(
            f"cannot tell how many classes checkpoint {path} predicts (no 2-D classifier weight found); "
            "pass num_classes= (--num-classes)."
        )
    return int(stored)


def _resolve_arch(unpacked: layouts.Unpacked, arch, path: Path) -> tuple[str, str]:
    if arch is not None:
        MODELS.get(arch)  # UnknownNameError with the close names
        return arch, "argument"
    stored = unpacked.meta.get("arch")
    if isinstance(stored, str) and stored in MODELS:
        return stored, "checkpoint"
    folder = layouts.arch_from_folder(path, MODELS)
    if folder is not None:
        return folder, f"folder {path.parent.name!r}"
    exact, best, score = _matching_archs(unpacked.state_dict)
    if len(exact) >= 1:
        return exact[0], "key match"
    raise CheckpointError(
        f"cannot tell the architecture of {path}: no arch was given, the checkpoint does not store one, "
        f"the folder name {path.parent.name!r} is not '<arch>_vanilla' for a zoo name, and its keys match no "
        f"zoo architecture (closest: {best!r}, {score:.0%} of keys and shapes agree). Pass arch= "
        "(--arch); dastat.models.list_models() lists the names."
    )


def _resolve_stats(unpacked, arch, mean, std, dataset) -> tuple[Sequence[float], Sequence[float], str]:
    meta = unpacked.meta
    if meta.get("mean") is not None and meta.get("std") is not None:
        base, origin = (meta["mean"], meta["std"]), "checkpoint"
    elif dataset is not None and (hasattr(dataset, "mean") or dataset in BY_DATASET):
        base, origin = stats_for(dataset), f"dataset {getattr(dataset, 'name', dataset)}"
    elif arch.startswith("tv_"):
        base, origin = IMAGENET, "default imagenet"
    else:
        # RepDistiller's zoo is CIFAR-100's (docs/method.md, "Models and checkpoints")
        base, origin = CIFAR100, "default cifar100"
    if mean is not None or std is not None:
        origin = "argument" if (mean is not None and std is not None) else f"argument + {origin}"
    return (mean if mean is not None else base[0]), (std if std is not None else base[1]), origin


def load_teacher(
    path: str | os.PathLike,
    arch: str | None = None,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    trust: bool = False,
    dataset=None,
    image_size: int | None = None,
) -> Classifier:
    """Load a checkpoint as a ready-to-use classifier (eval mode, normalisation in front).

    Parameters
    ----------
    path : path of the checkpoint file, in any layout of docs/method.md, "Models and checkpoints" (see
    :mod:`dastat.models.layouts`).
    arch : str, optional
        Zoo name. Default: stored in the checkpoint, else RepDistiller's ``<arch>_vanilla`` folder
        rule, else the zoo architecture whose state_dict keys and shapes equal the file's.
    num_classes : int, optional
        Expected class count; a checkpoint with another count is refused. Default: the classifier's.
    device : ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` or a torch.device
    mean, std : three floats each, optional
        Input normalisation, overriding the default (stored in the checkpoint, else by ``dataset``,
        else CIFAR-100's for the CIFAR zoo and ImageNet's for ``tv_*`` models).
    trust : bool
        Allow arbitrary unpickling. Only for files from a trusted source.
    dataset : str or ImageTensorDataset, optional
        The data the teacher will see: picks the default mean/std (and image size) and checks the
        class count.
    image_size : int, optional
        Input side the network is built for (pooling at sizes other than 32, docs/method.md, "Models and checkpoints").

    Returns
    -------
    Classifier
        In eval mode on ``device``; ``.checksum`` is the file's sha256 and ``.source`` says how the
        layout, architecture and normalisation were decided.

    Raises
    ------
    CheckpointError
        Missing, unreadable or corrupt file; no weights inside; keys that do not fit the architecture;
        a class-count mismatch.
    UntrustedCheckpointError
        The file needs arbitrary unpickling and ``trust`` is False.
    UnknownNameError
        ``arch`` is not a zoo name.
    """
    path = Path(path).expanduser()
    unpacked = layouts.unpack(read_checkpoint(path, trust=trust), path)
    checksum = sha256_of(path)
    num_classes = _resolve_num_classes(unpacked, num_classes, dataset, path)
    arch, arch_from = _resolve_arch(unpacked, arch, path)
    if image_size is None:
        image_size = unpacked.meta.get("image_size")
    if image_size is None and dataset is not None:
        image_size = getattr(dataset, "image_size", None) or _DATASET_SIZE.get(dataset)
    image_size = int(image_size or CIFAR_SIZE)

    net = create(arch, num_classes=num_classes, image_size=image_size)
    expected = layouts.signature(net)
    state = layouts.fill_counters(unpacked.state_dict, expected)
    problem = _describe_mismatch(state, expected)
    if problem:
        exact, best, score = _matching_archs(state)
        if exact:
            hint = f"Its keys fit {exact[0]!r} exactly: pass arch={exact[0]!r} (--arch {exact[0]})."
        else:
            hint = f"No zoo architecture fits exactly; the closest is {best!r} ({score:.0%} of keys agree)."
        raise CheckpointError(
            f"checkpoint {path} does not fit architecture {arch!r} (chosen by {arch_from}): {problem}. {hint}"
        )
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:  # dtype trouble the key/shape check cannot see
        raise CheckpointError(f"checkpoint {path} cannot be loaded into {arch!r}: {err}") from None
    mean, std, stats_from = _resolve_stats(unpacked, arch, mean, std, dataset)
    source = {
        "path": str(path),
        "layout": unpacked.layout,
        "arch_from": arch_from,
        "normalisation_from": stats_from,
        "meta": {k: v for k, v in unpacked.meta.items() if k not in ("mean", "std")},
    }
    model = Classifier(
        net, mean, std, arch=arch, num_classes=num_classes, image_size=image_size,
        checksum=checksum, source=source,
    )
    return model.to(resolve_device(device)).eval()


def load_student(
    path: str | os.PathLike,
    arch: str | None = None,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    trust: bool = False,
    dataset=None,
    image_size: int | None = None,
) -> Classifier:
    """Load a student checkpoint; the same rules as :func:`load_teacher` (students are classifiers too).

    Student files of RepDistiller (``S:<arch>_T:..._/ckpt_epoch_240.pth``) and Good-DA-in-KD
    (``module.``-prefixed keys) are read as such.
    """
    return load_teacher(path, arch=arch, num_classes=num_classes, device=device, mean=mean, std=std,
                        trust=trust, dataset=dataset, image_size=image_size)


def _plain(value, key: str):
    """A value torch.load(weights_only=True) can read back: numbers, strings, lists, dicts, tensors."""
    if isinstance(value, numbers.Number) and hasattr(value, "item"):  # numpy scalars (np.float64 is a float)
        return value.item()
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, Tensor):
        return value.item() if value.ndim == 0 else value.detach().cpu()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, key) for v in value]
    raise InvalidArgumentError(
        f"checkpoint metadata {key}={value!r} ({type(value).__name__}) cannot be stored safely; "
        "use numbers, strings, lists, dicts or tensors"
    )


def save_checkpoint(model: nn.Module, path: str | os.PathLike, **meta) -> Path:
    """Write a checkpoint that :func:`load_teacher` reads without guessing anything.

    The file is ``{'format': 'dastat-checkpoint', 'format_version', 'arch', 'num_classes',
    'image_size', 'mean', 'std', 'model': <bare state_dict>, 'meta': {...}}``; the ``'model'`` entry
    is the network's bare state_dict, so RepDistiller-style code (``torch.load(f)['model']``) reads it
    too. It is written to a temporary file and renamed, so a crash never leaves half a file.

    Parameters
    ----------
    model : Classifier or nn.Module
        A Classifier (arch, classes and normalisation are taken from it) or a network from
        :func:`dastat.models.create`.
    path : destination file (its folder is created).
    **meta
        ``arch``, ``num_classes``, ``image_size``, ``mean``, ``std`` override what the model says;
        anything else (``test_acc1=...``, ``epochs=...``) is stored under ``'meta'``.

    Returns
    -------
    Path
        The file written.
    """
    if isinstance(model, Classifier):
        net = model.net
        info = {"arch": model.arch, "num_classes": model.num_classes, "image_size": model.image_size,
                "mean": list(model.mean), "std": list(model.std)}
    elif isinstance(model, nn.Module):
        net = model
        info = {k: getattr(model, k, None) for k in ("arch", "num_classes", "image_size")}
        info.update(mean=None, std=None)
    else:
        raise InvalidArgumentError(f"model must be a Classifier or torch.nn.Module; got {type(model).__name__}")
    for key in list(info):
        if key in meta:
            info[key] = meta.pop(key)
    if not info["arch"]:
        raise InvalidArgumentError(
            "save_checkpoint needs the architecture name: pass arch=... or a model made by "
            "dastat.models.create / wrapped with dastat.models.wrap(..., arch=...)"
        )
    if info["num_classes"] is None:
        head = layouts.classifier_entry(net.state_dict())
        info["num_classes"] = head[1] if head else None
    from dastat import __version__

    payload = {
        "format": layouts.DASTAT_FORMAT,
        "format_version": FORMAT_VERSION,
        **{k: _plain(v, k) for k, v in info.items()},
        "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "meta": _plain(meta, "meta"),
        "dastat_version": __version__,
    }
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
