"""The scheme base class and the registry that files schemes by name."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from dastat.augment.spelling import RUN_SETTINGS, Stage, declared_parameters, parse, spell
from dastat.checks import check_choice, check_images, check_int
from dastat.constants import RANDOMNESS
from dastat.errors import DastatError, InvalidArgumentError
from dastat.registry import Registry
from dastat.rng import check_generator

_SCHEMES: Registry[Callable[..., Scheme]] = Registry("scheme")


def check_fill(fill: object) -> tuple[int, int, int] | None:
    """A uint8 RGB triple (or one int for all channels), or None."""
    if fill is None:
        return None
    if isinstance(fill, (int, float)) and not isinstance(fill, bool):
        fill = (fill, fill, fill)
    try:
        values = tuple(fill)  # type: ignore[arg-type]
    except TypeError:
        values = ()
    if len(values) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise InvalidArgumentError(
            f"fill must be a uint8 RGB triple such as (129, 124, 112); got {fill!r}. "
            "From a dataset: tuple(round(255 * m) for m in dataset.mean)."
        )
    if not all(0 <= v <= 255 for v in values):
        raise InvalidArgumentError(f"fill values must be in [0, 255]; got {fill!r}")
    return tuple(round(float(v)) for v in values)  # type: ignore[return-value]


def fill_colour(teacher: object, dataset: object) -> tuple[int, int, int]:
    """The fill of cutout and AutoAugment's borders: the teacher's mean colour in uint8 (docs/method.md, "Schemes").

    The colour that the teacher's normalisation maps to zero, where the reference paints zeros; the
    dataset's mean when the teacher carries no normalisation. Probe and trainer both use it, so a
    scheme makes the same x' for the teacher in both.
    """
    mean = getattr(teacher, "mean", None) or dataset.mean  # type: ignore[attr-defined]
    return tuple(round(255 * m) for m in mean)  # type: ignore[return-value]


_SCORES_BY = {"student": "the student's outputs", "teacher+student": "the teacher's and the student's outputs"}


def scorer_for(scheme: object, teacher: Callable, student: Callable | None) -> Any:
    """What a scheme's ``scorer`` asks for: None, the teacher, the student or a ``(teacher, student)`` pair.

    The one wiring of probe and trainer (docs/method.md, "Schemes"); raises DastatError when the
    scheme needs a student and ``student`` is None.
    """
    needs = getattr(scheme, "scorer", None)
    if needs is None:
        return None
    if needs not in ("teacher", *_SCORES_BY):
        raise InvalidArgumentError(
            f"scheme {_name(scheme)!r} asks for scorer {needs!r}; a scheme's scorer must be None, 'teacher', "
            "'student' or 'teacher+student'"
        )
    if needs != "teacher" and student is None:
        raise DastatError(f"scheme {_name(scheme)!r} ranks images by {_SCORES_BY[needs]} and needs a student: "
                          "pass student= (API) or --student PATH (CLI)")
    return {"teacher": teacher, "student": student, "teacher+student": (teacher, student)}[needs]


def _name(scheme: object) -> str:
    return getattr(scheme, "name", None) or type(scheme).__name__


class RowLabels(NamedTuple):
    """The labels of a batch's x' rows (docs/method.md, "Schemes"): row i weighs ``own[i]`` by ``lam[i]``
    and ``partner[i]`` by ``1 - lam[i]``."""

    own: Tensor  # [rows] int64, the label of the image the row was made from
    partner: Tensor  # [rows] int64, the label of the image mixed in (the own label where there is none)
    lam: Tensor  # [rows] float64, the own label's weight
    source: Tensor | None  # [rows] int64, the row's one source image in the batch; None where rows have two

    @classmethod
    def kept(cls, labels: Tensor) -> RowLabels:
        """Row i is image i with its label: what a label-preserving scheme's rows carry."""
        ones = torch.ones(labels.shape[0], dtype=torch.float64, device=labels.device)
        return cls(labels, labels, ones, torch.arange(labels.shape[0], device=labels.device))

    @classmethod
    def cat(cls, parts: Sequence[RowLabels]) -> RowLabels:
        """The rows of several runs on one batch, one after the other."""
        source = None if parts[0].source is None else torch.cat([p.source for p in parts])
        return cls(*(torch.cat([getattr(p, f) for p in parts]) for f in ("own", "partner", "lam")), source)

    def select(self, rows: Tensor) -> RowLabels:
        """The labels of ``rows`` (indices into these rows)."""
        return RowLabels(*(None if t is None else t.index_select(0, rows) for t in self))


class Scheme:
    """A data augmentation: a sampler (``sample``) that draws parameters and a kernel (``apply``).

    Subclasses write ``sample`` and ``apply``; nobody overrides ``__call__``. Calling a scheme
    checks its input, draws parameters per sample (or once per batch with
    ``randomness="batch"``) from the generator, and applies them to the whole batch at once.

    Attributes
    ----------
    name : str
        The canonical name, parameters included (``"cutout(side=4)"``): set by :func:`register`
        on the class and by :func:`get` on what it builds.
    scorer : None or str
        What the caller must pass as ``scorer``: None, ``"teacher"``, ``"student"`` or
        ``"teacher+student"`` (a ``(teacher, student)`` pair).
    min_batch : int
        The smallest batch the scheme accepts (2 for schemes that mix pairs of images).
    hparams : dict
        The scheme's settings with defaults resolved (what a result record stores as
        ``scheme_params``).
    row_params, index_params
        Set by schemes whose parameters are a NamedTuple of per-image tensors (and which of
        its fields hold image indices): :meth:`apply_batches` then stacks batches into one call.
    is_identity : bool
        x' is x itself (``identity``): the probe scores x once for both.
    picks : bool
        The scheme runs ``base`` ``pool_factor`` times and keeps the ``kept_count(B)`` pool images
        of highest ``score(logits)``, the pool's rows labelled by ``pool_labels(params, labels)``
        (:class:`dastat.augment.Pick`): the probe makes and scores the pools itself, in its own
        forwards.
    pool_factor : int
        Images the scheme makes per input image before it picks (1 for a scheme that does not pick).

    What the probe needs to know about the labels of x' rows, :meth:`row_labels` tells; a scheme
    that mixes images overrides it (docs/method.md, "Schemes").
    """

    name: ClassVar[str] = "scheme"
    scorer: ClassVar[str | None] = None
    min_batch: ClassVar[int] = 1
    row_params: ClassVar[bool] = False  # sample() returns a NamedTuple of tensors, one row per image
    index_params: ClassVar[tuple[str, ...]] = ()  # fields of those that index images of the batch
    takes_fill: ClassVar[bool] = True  # False: the scheme paints no colour and refuses a fill
    is_identity: ClassVar[bool] = False
    picks: ClassVar[bool] = False
    pool_factor: int = 1

    def __init__(self, *, image_size: int = 32, randomness: str = "sample", fill: Any = None):
        self.image_size = check_int(image_size, "image_size", low=1)
        self.randomness = check_choice(randomness, "randomness", RANDOMNESS)
        self.fill = check_fill(fill)
        if self.fill is not None and not self.takes_fill:
            raise InvalidArgumentError(
                f"scheme {self.name!r} paints no colour and takes no fill (got {fill!r}); leave fill=None "
                "(dastat.augment.get passes a fill only to schemes that use it)"
            )
        self.hparams: dict[str, Any] = {"randomness": self.randomness}

    def sample(self, images: Tensor, generator: torch.Generator) -> Any:
        """Draw the random parameters for ``images`` (one row per image)."""
        return None

    def apply(self, images: Tensor, params: Any) -> Tensor:
        """Apply drawn parameters; deterministic."""
        raise NotImplementedError

    def _augment(self, images: Tensor, generator: torch.Generator, scorer: Any) -> tuple[Tensor, Any]:
        params = self.sample(images, generator)
        return self.apply(images, params), params

    def row_labels(self, params: Any, labels: Tensor) -> RowLabels:
        """The labels of the x' rows made from a batch with ``labels`` [B] under drawn ``params``.

        By default row i is image i with its label; a scheme whose rows mix images, or come in
        another order or number, overrides this.
        """
        return RowLabels.kept(labels)

    @property
    def relabels(self) -> bool:
        """Whether an x' row may carry another label than its own image's (the scheme overrides :meth:`row_labels`)."""
        return type(self).row_labels is not Scheme.row_labels

    @property
    def samples_then_applies(self) -> bool:
        """Whether a call is ``sample`` then ``apply`` (so draws and pixels can be done in separate passes)."""
        return type(self)._augment is Scheme._augment

    def apply_batches(self, batches: Sequence[Tensor], params: Sequence[Any]) -> list[Tensor]:
        """``apply`` to several batches with their drawn parameters, as one call where the parameters allow.

        When every parameter is a tensor with one row per image (``row_params``), the batches go
        through ``apply`` together, image indices in ``index_params`` shifted to the stacked batch;
        the result equals applying them one by one.
        """
        if not self.row_params or len(batches) == 1:
            return [self.apply(images, p) for images, p in zip(batches, params)]
        sizes = [images.shape[0] for images in batches]
        starts = torch.tensor([0, *sizes[:-1]], device=batches[0].device).cumsum(0)
        fields = []
        for i, name in enumerate(params[0]._fields):
            columns = [p[i] for p in params]
            if columns[0] is None:  # an optional field the scheme does not use (Crop's flips)
                fields.append(None)
                continue
            if name in self.index_params:
                columns = [c + start for c, start in zip(columns, starts)]
            fields.append(torch.cat(columns))
        return list(self.apply(torch.cat(list(batches)), type(params[0])(*fields)).split(sizes))

    def check_batch(self, images: Tensor) -> None:
        """Refuse a batch smaller than ``min_batch``."""
        if images.shape[0] < self.min_batch:
            raise InvalidArgumentError(
                f"scheme {self.name!r} mixes pairs of images and needs a batch of at least "
                f"{self.min_batch}; got images of shape {tuple(images.shape)}"
            )

    def __call__(
        self,
        images: Tensor,
        generator: torch.Generator | int | None = None,
        scorer: Any = None,
        *,
        return_params: bool = False,
    ) -> Tensor | tuple[Tensor, Any]:
        """Augment a batch.

        Parameters
        ----------
        images : Tensor, uint8, shape [B, 3, H, W]
            The batch, on any device.
        generator : torch.Generator, int or None
            Source of every random draw (a seed makes a fresh generator; None draws fresh
            entropy). Put it on the images' device to keep the draws there.
        scorer : nn.Module, (teacher, student) pair or None
            A network returning logits, needed only when ``self.scorer`` is not None.
        return_params : bool
            Also return the drawn parameters (e.g. CutMix's ``lam_corrected``, for users
            who want mixed labels).

        Returns
        -------
        Tensor, uint8, shape [B', 3, H, W]
            Same dtype and device; ``B' = B`` except for picking schemes (their kept count).
            With ``return_params``, a pair ``(images, params)``.

        Raises
        ------
        InvalidArgumentError
            For a non-uint8 or wrongly shaped batch, a batch smaller than ``min_batch``, or a
            missing scorer.
        """
        check_images(images, "images")
        self.check_batch(images)
        generator = check_generator(generator, device=images.device)
        augmented, params = self._augment(images, generator, scorer)
        return (augmented, params) if return_params else augmented

    def _draws(self, batch_size: int) -> int:
        # "batch": one draw shared by the batch, as in the paper's reference code (docs/method.md, "Schemes")
        return batch_size if self.randomness == "sample" else 1

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"{type(self).__name__}({self.name!r}, {settings})"


def register(name: str) -> Callable:
    """Decorator: make a scheme reachable as ``dastat.augment.get(name)``.

    Decorate a :class:`Scheme` subclass, or a function returning a Scheme whose keyword
    arguments include ``image_size``, ``randomness`` and ``fill`` (or ``**kwargs``).

    Example
    -------
    >>> @register("invert")
    ... class Invert(Scheme):
    ...     def apply(self, images, params):
    ...         return 255 - images
    """

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise InvalidArgumentError(f"a scheme is registered under a name of letters, digits and '_' (a scheme "
                                   f"name's parameters go in parentheses after it); got {name!r}")

    def add(builder: Callable) -> Callable:
        if isinstance(builder, type) and issubclass(builder, Scheme):
            builder.name = name
        _SCHEMES.register(name)(builder)
        return builder

    return add


def list_schemes(pattern: str = "*") -> list[str]:
    """Registered scheme names matching a shell wildcard, naturally sorted."""
    return _SCHEMES.names(pattern)


def canonical(name: str) -> str:
    """The one spelling of a scheme name (docs/method.md, "Schemes").

    Checks the schemes and parameter names against the registry and writes the name back with
    parameters sorted, those at their declared default dropped and numbers written shortest:
    ``canonical("mixup(alpha=1.0)") == "mixup"``, ``canonical("randaugment(n=2, m=5)") ==
    "randaugment(m=5)"``. Values are checked when the scheme is built (:func:`get`).

    Raises
    ------
    UnknownNameError
        For an unknown scheme, suggesting the nearest names.
    InvalidArgumentError
        For a spelling it cannot read or a parameter the scheme does not take.
    """
    return spell(parse(name, _SCHEMES))


def _build(stage: Stage, image_size: int, randomness: str, fill: Any, where: str) -> Scheme:
    builder = _SCHEMES.get(stage.scheme)
    kwargs = {"image_size": image_size, "randomness": randomness, "fill": fill, **dict(stage.params)}
    declared = declared_parameters(builder)
    if isinstance(builder, type) and issubclass(builder, Scheme) and not builder.takes_fill:
        kwargs.pop("fill")  # one fill for every scheme of a run: those that paint nothing have none
    missing = [k for k in RUN_SETTINGS if k in kwargs and declared is not None and k not in declared]
    if missing:
        raise InvalidArgumentError(f"scheme builder {stage.scheme!r} must take the keyword arguments "
                                   f"{', '.join(missing)} (or **kwargs) to be registered")
    try:
        scheme = builder(**kwargs)
    except InvalidArgumentError as err:
        raise InvalidArgumentError(f"scheme {where!r}: {err}") from None
    if not isinstance(scheme, Scheme):
        raise InvalidArgumentError(f"scheme builder {stage.scheme!r} must return a dastat.augment.Scheme; "
                                   f"got {scheme!r}")
    scheme.name = str(stage)  # what it is filed under, with the parameters it was built with
    return scheme


def get(name: str, image_size: int = 32, randomness: str = "sample", fill: Any = None, **params: Any) -> Scheme:
    """Build a scheme from its name (docs/method.md, "Schemes").

    Parameters
    ----------
    name : str
        A registered name (:func:`list_schemes`: ``identity, flip, crop, flip_crop, cutout,
        autoaugment, randaugment, mixup, cutmix, cutmixpick_t, cutmixpick_s, cutmixpick_kl`` and
        user schemes), with parameters in parentheses (``mixup(alpha=0.2)``,
        ``autoaugment(policy=svhn)``), or per-image schemes joined by ``+`` and applied in turn
        (``flip_crop+cutout(side=4)``). The scheme's ``name`` is the canonical spelling,
        :func:`canonical`.
    image_size : int
        Side of the images; size-dependent defaults follow it (docs/method.md, "Schemes": pad 4 / 8, cutout
        side 8 / 16, CIFAR10 / IMAGENET AutoAugment policy at 32 / 64 px).
    randomness : {"sample", "batch"}
        Draw random parameters per image (default) or once per batch (the reference code).
    fill : RGB triple of ints in [0, 255] or None
        Colour of erased pixels (cutout) and of AutoAugment's and RandAugment's geometric borders;
        pass the teacher's mean colour, :func:`fill_colour`. None = black. Schemes that paint no
        colour (``crop``, ``flip_crop``: zero padding, as the reference) are built without it.
    **params
        Parameters of a single scheme, as if written in its name (``side=4``); None values are
        dropped so a scheme's own defaults stand.

    Raises
    ------
    UnknownNameError
        For an unknown scheme, suggesting the nearest ones.
    InvalidArgumentError
        For a spelling it cannot read, a parameter the scheme does not take, or a bad value.
    """
    stages = parse(name, _SCHEMES, params)
    where = name.strip()
    built = [_build(stage, image_size, randomness, fill, where) for stage in stages]
    if len(built) == 1:
        return built[0]
    from dastat.augment.compose import Compose

    scheme = Compose(built)
    scheme.name = spell(stages)
    return scheme
