"""Training recipes: the paper's Table 4 as validated, frozen dataclasses (files and registry: ``_registry``).

A recipe file is a YAML mapping whose keys are the fields of :class:`Recipe`; the nested mappings ``optimizer``,
``schedule`` and ``augment`` (with ``augment.randaugment``) are the fields of :class:`OptimizerConfig`,
:class:`ScheduleConfig`, :class:`AugmentConfig` and :class:`RandAugmentConfig`. Unknown keys, missing required keys
and values of the wrong type are rejected with an :class:`~act_bench.errors.InvalidInputError` that names the file
and the (dotted) key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from act_bench.errors import InvalidInputError
from act_bench.utils import NAME_PATTERN

__all__ = [
    "DECAYS",
    "INITS",
    "OPTIMIZERS",
    "AugmentConfig",
    "OptimizerConfig",
    "RandAugmentConfig",
    "Recipe",
    "ScheduleConfig",
]

#: Optimizers a recipe may name.
OPTIMIZERS = ("sgd", "adamw")
#: Learning-rate decays after the warmup.
DECAYS = ("linear", "cosine", "constant")
#: Weight initialisations: ``autoinit`` (Bingham & Miikkulainen 2022), ``autoinit-centered`` (AutoInit with the
#: incoming mean cancelled per kernel tap, ``data_builders.autoinit.autoinit(center=True)``) or the framework default.
INITS = ("autoinit", "autoinit-centered", "default")


# --------------------------------------------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer of a recipe.

    Attributes
    ----------
    name : {"sgd", "adamw"}
    weight_decay : float
        For ``sgd``: the L2 coefficient added to the gradient (``torch.optim.SGD(weight_decay=...)``).
        For ``adamw``: the decoupled decay as a multiple of the *current* learning rate, i.e. each step multiplies
        the weights by ``1 - weight_decay * lr_t`` (Table 4: "0.02 x current learning rate"); this is exactly what
        ``torch.optim.AdamW(weight_decay=...)`` does with a scheduled ``lr``.
    momentum : float
        SGD momentum (ignored by AdamW).
    nesterov : bool
        SGD Nesterov momentum.
    betas : tuple of float
        AdamW betas (not given in the paper; PyTorch defaults).
    eps : float
        AdamW epsilon (PyTorch default).
    """

    name: str
    weight_decay: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


@dataclass(frozen=True)
class ScheduleConfig:
    """Per-step learning-rate schedule: linear warmup ``start_lr -> peak_lr`` over ``warmup_epochs``, then decay.

    Attributes
    ----------
    peak_lr : float
        Learning rate reached at the end of the warmup.
    warmup_epochs : float
        Length of the warmup in epochs (may be fractional; 0 = no warmup).
    start_lr : float
        Learning rate of the first step (default 0).
    decay : {"linear", "cosine", "constant"}
        Shape of the decay from ``peak_lr`` to ``final_lr`` over the remaining steps.
    final_lr : float
        Learning rate at the end of training (default 0).
    """

    peak_lr: float
    warmup_epochs: float = 0.0
    start_lr: float = 0.0
    decay: str = "linear"
    final_lr: float = 0.0


@dataclass(frozen=True)
class RandAugmentConfig:
    """RandAugment (Cubuk et al. 2020): ``num_ops`` random operations per image at ``magnitude`` (scale 0-10)."""

    magnitude: float
    num_ops: int


@dataclass(frozen=True)
class AugmentConfig:
    """Data augmentation of a recipe (all implemented as tensor ops in :mod:`data_builders.augment`).

    Attributes
    ----------
    random_crop_padding : int
        Pad by this many pixels on all sides, then take a random crop of the original size (0 = off).
    horizontal_flip : bool
        Random horizontal flips with probability 0.5.
    random_resized_crop_min_scale : float or None
        Random resized crop with area scale in ``[min_scale, 1]`` (None = off).
    randaugment : RandAugmentConfig or None
    mixup_alpha, cutmix_alpha : float
        Beta(alpha, alpha) parameters of mixup and cutmix (0 = off); when both are on, one of the two is chosen per
        batch with probability 1/2.
    eval_center_crop : float or None
        Evaluation images: central crop of this fraction of the side, resized to the image size (None = off).
    """

    random_crop_padding: int = 0
    horizontal_flip: bool = False
    random_resized_crop_min_scale: float | None = None
    randaugment: RandAugmentConfig | None = None
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    eval_center_crop: float | None = None

    @property
    def enabled(self) -> bool:
        """Whether any training augmentation is on."""
        return bool(self.random_crop_padding or self.horizontal_flip or self.random_resized_crop_min_scale
                    or self.randaugment or self.mixup_alpha or self.cutmix_alpha)


@dataclass(frozen=True)
class Recipe:
    """A training recipe: task, model, optimizer, schedule, augmentation, initialisation and build settings.

    Attributes
    ----------
    name : str
        Registry name (e.g. ``"act-bench-cnn"``).
    task, model : str
        Names in the task and model registries.
    epochs : int
        Training epochs of one benchmark run.
    batch_size : int
    optimizer : OptimizerConfig
    schedule : ScheduleConfig
    augment : AugmentConfig
    dropout : float
    normalize : bool
        Per-channel mean/std normalisation of the inputs (task statistics).
    init : {"autoinit", "autoinit-centered", "default"}
    image_size : int or None
        Network input side for image tasks (None for 1-D tasks).
    fim_batch_size : int
        Batch size of the one batch used for the Fisher-information features.
    seeds : int
        Training seeds per function in a benchmark build.
    gpus_per_run : float
        GPUs one run asks for (0 = CPU). A fraction (e.g. 0.25) lets the Ray executor pack several runs on one GPU;
        more than 1 must be a whole number.
    grad_clip_norm : float or None
        Clip the global gradient norm to this value before each optimizer step (None: no clipping).
    full_evaluation_epochs : int or None
        Epochs of the paper's full evaluation (Table 1), where it differs from ``epochs``.
    task_args : dict
        Keyword arguments for ``create_task(task, **task_args)`` (scalars only).
    description, table, notes : str
        Free text: what the recipe is, which table it builds, provenance/caveats.

    Examples
    --------
    >>> from data_builders.recipes import get_recipe
    >>> r = get_recipe("act-bench-cnn")
    >>> r.epochs, r.optimizer.name, r.schedule.peak_lr, r.augment.random_crop_padding
    (25, 'sgd', 0.1, 4)
    >>> r.with_overrides(epochs=1).epochs
    1
    """

    name: str
    task: str
    model: str
    epochs: int
    batch_size: int
    optimizer: OptimizerConfig
    schedule: ScheduleConfig
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    dropout: float = 0.0
    normalize: bool = True
    init: str = "autoinit"
    image_size: int | None = None
    fim_batch_size: int = 128
    seeds: int = 3
    gpus_per_run: float = 0.0
    grad_clip_norm: float | None = None
    full_evaluation_epochs: int | None = None
    task_args: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    table: str = ""
    notes: str = ""

    # ------------------------------------------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/YAML-serialisable); ``Recipe.from_dict(r.to_dict()) == r``."""
        out = dataclasses.asdict(self)
        out["optimizer"]["betas"] = list(self.optimizer.betas)
        out["task_args"] = dict(self.task_args)
        return out

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "recipe") -> Recipe:
        """Build and validate a recipe from a nested mapping; errors name ``source`` and the offending key."""
        return _build(cls, data, source=source, prefix="")

    def with_overrides(self, **overrides: Any) -> Recipe:
        """A validated copy with some fields replaced.

        Top-level fields are replaced; a mapping given for ``optimizer``, ``schedule``, ``augment`` or
        ``task_args`` is merged into the current one (so ``schedule={"warmup_epochs": 0}`` keeps the rest).

        Examples
        --------
        >>> from data_builders.recipes import get_recipe
        >>> r = get_recipe("act-bench-mnist1d").with_overrides(epochs=2, schedule={"warmup_epochs": 0})
        >>> r.epochs, r.schedule.warmup_epochs, r.schedule.peak_lr
        (2, 0.0, 0.1)
        """
        data = self.to_dict()
        for key, value in overrides.items():
            if key in _NESTED and isinstance(value, Mapping) and isinstance(data.get(key), Mapping):
                merged = dict(data[key])
                for sub_key, sub_value in value.items():
                    if (key == "augment" and sub_key == "randaugment" and isinstance(sub_value, Mapping)
                            and isinstance(merged.get("randaugment"), Mapping)):
                        sub_value = {**merged["randaugment"], **sub_value}
                    merged[sub_key] = sub_value
                data[key] = merged
            elif isinstance(value, (OptimizerConfig, ScheduleConfig, AugmentConfig)):
                data[key] = dataclasses.asdict(value)
            else:
                data[key] = value
        return Recipe.from_dict(data, source=f"overrides of recipe {self.name!r}")


_NESTED = {"optimizer", "schedule", "augment", "task_args"}


# ---------------------------------------------------------------------------------------------------- validation
def _fail(source: str, key: str, must: str, got: Any) -> InvalidInputError:
    return InvalidInputError(f"{source}: key {key!r} must be {must}; got {got!r}")


def _check_value(value: Any, annotation: str, *, source: str, key: str) -> Any:
    """Validate one scalar/sequence value against the (string) annotation of its dataclass field."""
    optional = annotation.endswith("| None")
    base = annotation.removesuffix("| None").strip()
    if value is None:
        if optional:
            return None
        raise _fail(source, key, f"a value of type {base}", value)
    if base == "str":
        if not isinstance(value, str):
            raise _fail(source, key, "a string", value)
        return value
    if base == "bool":
        if not isinstance(value, bool):
            raise _fail(source, key, "true or false", value)
        return value
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, key, "an integer", value)
        return int(value)
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _fail(source, key, "a finite number (write exponents as 1.0e-4)", value)
        return float(value)
    if base == "tuple[float, float]":
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)):
            raise _fail(source, key, "a list of two numbers", value)
        return (float(value[0]), float(value[1]))
    if base == "dict[str, Any]":
        if not isinstance(value, Mapping):
            raise _fail(source, key, "a mapping", value)
        for k, v in value.items():
            if not isinstance(k, str) or not (v is None or isinstance(v, (str, int, float, bool))):
                raise _fail(source, f"{key}.{k}", "a scalar (string, number, boolean or null)", v)
        return dict(value)
    raise AssertionError(f"unhandled annotation {annotation!r}")  # pragma: no cover - programming error


_SUBCONFIGS = {"OptimizerConfig": OptimizerConfig, "ScheduleConfig": ScheduleConfig,
               "AugmentConfig": AugmentConfig, "RandAugmentConfig": RandAugmentConfig}


def _build(cls: type, data: Any, *, source: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{source}: {where} must be a mapping of keys to values; got {data!r}")
    specs = {f.name: f for f in fields(cls)}
    unknown = [k for k in data if k not in specs]
    if unknown:
        raise InvalidInputError(f"{source}: unknown key {prefix + str(unknown[0])!r}; valid keys at {where}: "
                                f"{', '.join(specs)}")
    kwargs: dict[str, Any] = {}
    for name, spec in specs.items():
        key = prefix + name
        if name not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise InvalidInputError(f"{source}: missing required key {key!r}")
            continue
        value = data[name]
        annotation = str(spec.type)
        sub = _SUBCONFIGS.get(annotation.removesuffix("| None").strip())
        if sub is not None:
            if value is None and annotation.endswith("| None"):
                kwargs[name] = None
            elif isinstance(value, sub):
                kwargs[name] = value
            else:
                kwargs[name] = _build(sub, value, source=source, prefix=key + ".")
        else:
            kwargs[name] = _check_value(value, annotation, source=source, key=key)
    obj = cls(**kwargs)
    _check_ranges(obj, source=source, prefix=prefix)
    return obj


def _check_ranges(obj: Any, *, source: str, prefix: str) -> None:
    def need(ok: bool, name: str, must: str) -> None:
        if not ok:
            raise _fail(source, prefix + name, must, getattr(obj, name))

    if isinstance(obj, OptimizerConfig):
        need(obj.name in OPTIMIZERS, "name", "one of " + ", ".join(map(repr, OPTIMIZERS)))
        need(obj.weight_decay >= 0, "weight_decay", "a number >= 0")
        need(0 <= obj.momentum < 1, "momentum", "a number in [0, 1)")
        need(all(0 <= b < 1 for b in obj.betas), "betas", "two numbers in [0, 1)")
        need(obj.eps > 0, "eps", "a number > 0")
        need(not (obj.nesterov and obj.momentum == 0), "nesterov", "false when momentum is 0")
    elif isinstance(obj, ScheduleConfig):
        need(obj.peak_lr > 0, "peak_lr", "a number > 0")
        need(obj.warmup_epochs >= 0, "warmup_epochs", "a number >= 0")
        need(obj.start_lr >= 0, "start_lr", "a number >= 0")
        need(obj.final_lr >= 0, "final_lr", "a number >= 0")
        need(obj.decay in DECAYS, "decay", "one of " + ", ".join(map(repr, DECAYS)))
    elif isinstance(obj, RandAugmentConfig):
        need(0 <= obj.magnitude <= 10, "magnitude", "a number in [0, 10]")
        need(obj.num_ops >= 1, "num_ops", "an integer >= 1")
    elif isinstance(obj, AugmentConfig):
        need(obj.random_crop_padding >= 0, "random_crop_padding", "an integer >= 0")
        s = obj.random_resized_crop_min_scale
        need(s is None or 0 < s <= 1, "random_resized_crop_min_scale", "null or a number in (0, 1]")
        need(obj.mixup_alpha >= 0, "mixup_alpha", "a number >= 0")
        need(obj.cutmix_alpha >= 0, "cutmix_alpha", "a number >= 0")
        c = obj.eval_center_crop
        need(c is None or 0 < c <= 1, "eval_center_crop", "null or a number in (0, 1]")
    elif isinstance(obj, Recipe):
        need(bool(NAME_PATTERN.match(obj.name)) and ".." not in obj.name, "name",
             "1-96 letters, digits, '_', '.', '-' starting with a letter or digit (it names the table)")
        need(obj.epochs >= 1, "epochs", "an integer >= 1")
        need(obj.batch_size >= 1, "batch_size", "an integer >= 1")
        need(0 <= obj.dropout < 1, "dropout", "a number in [0, 1)")
        need(obj.init in INITS, "init", "one of " + ", ".join(map(repr, INITS)))
        need(obj.image_size is None or obj.image_size >= 1, "image_size", "null or an integer >= 1")
        need(obj.fim_batch_size >= 1, "fim_batch_size", "an integer >= 1")
        need(obj.grad_clip_norm is None or obj.grad_clip_norm > 0, "grad_clip_norm", "a number > 0 or null")
        need(obj.seeds >= 1, "seeds", "an integer >= 1")
        need(obj.gpus_per_run >= 0 and (obj.gpus_per_run <= 1 or float(obj.gpus_per_run).is_integer()),
             "gpus_per_run", "a number >= 0: a fraction of one GPU (0.25) or a whole number of GPUs")
        need(obj.full_evaluation_epochs is None or obj.full_evaluation_epochs >= 1, "full_evaluation_epochs",
             "null or an integer >= 1")
        image_aug = (obj.augment.random_crop_padding or obj.augment.random_resized_crop_min_scale
                     or obj.augment.randaugment or obj.augment.eval_center_crop)
        need(not (image_aug and obj.image_size is None), "image_size",
             "set when image augmentations (crops, RandAugment) are used")
