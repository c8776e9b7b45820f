"""Task base class, the split dataclass and the task registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from act_bench.errors import InvalidInputError

__all__ = ["SPLITS", "Task", "TaskData", "balanced_holdout", "create_task", "list_tasks", "register_task"]

#: The splits every task provides.
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class TaskData:
    """One split of a task, fully in memory.

    Attributes
    ----------
    x : torch.Tensor
        Inputs: ``uint8`` images ``(N, C, H, W)`` for image tasks, ``float32`` ``(N, C, L)`` for 1-D tasks.
    y : torch.Tensor
        ``int64`` labels ``(N,)`` in ``[0, num_classes)``.
    mean, std : tuple of float
        Per-channel normalisation statistics of the task's *training* split, in the units of
        :func:`data_builders.augment.to_float` (pixels scaled to [0, 1] for images, raw values for 1-D tasks).
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    """

    x: torch.Tensor
    y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    split: str

    def __len__(self) -> int:
        return int(self.y.shape[0])


class Task(ABC):
    """A classification task with train / validation / test splits.

    Subclasses set ``name``, ``num_classes`` and ``input_shape`` and implement :meth:`load`.

    Attributes
    ----------
    name : str
    num_classes : int
    input_shape : tuple of int
        ``(C, L)`` for 1-D tasks, ``(C, H, W)`` for image tasks (the stored size).
    """

    name: str = ""
    num_classes: int = 0
    input_shape: tuple[int, ...] = ()

    @abstractmethod
    def load(self, split: str) -> TaskData:
        """Return the split ``"train"``, ``"val"`` or ``"test"`` (cached in memory per process)."""

    @property
    def is_image(self) -> bool:
        """Whether inputs are ``uint8`` images ``(N, C, H, W)``."""
        return len(self.input_shape) == 3

    def _check_split(self, split: Any) -> str:
        if split not in SPLITS:
            raise InvalidInputError(f"parameter split of {type(self).__name__}.load must be one of "
                                    f"{', '.join(map(repr, SPLITS))}; got {split!r}")
        return split

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, num_classes={self.num_classes}, " \
               f"input_shape={self.input_shape})"


_T = TypeVar("_T", bound=Callable[..., Task])
_REGISTRY: dict[str, Callable[..., Task]] = {}


def register_task(name: str) -> Callable[[_T], _T]:
    """Class decorator registering a task factory under ``name``; refuses silent overwrite.

    Examples
    --------
    >>> import torch
    >>> from data_builders.tasks import Task, TaskData, register_task, create_task
    >>> @register_task("doc-constant")
    ... class Constant(Task):
    ...     name, num_classes, input_shape = "doc-constant", 2, (1, 4)
    ...     def load(self, split):
    ...         return TaskData(torch.zeros(2, 1, 4), torch.tensor([0, 1]), (0.0,), (1.0,), split)
    >>> len(create_task("doc-constant").load("train"))
    2
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"parameter name of register_task must be a non-empty string; got {name!r}")

    def decorator(factory: _T) -> _T:
        if name in _REGISTRY:
            raise InvalidInputError(f"task {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return decorator


def create_task(name: str, **kwargs: Any) -> Task:
    """Instantiate the task registered as ``name`` with keyword arguments ``kwargs``.

    Examples
    --------
    >>> from data_builders.tasks import create_task
    >>> create_task("mnist1d").input_shape
    (1, 40)
    """
    if name not in _REGISTRY:
        raise InvalidInputError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)


def list_tasks() -> list[str]:
    """Sorted names of the registered tasks."""
    return sorted(_REGISTRY)


def balanced_holdout(labels: np.ndarray, size: int, num_classes: int, seed: int, *, where: str
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, held out) with exactly ``size / num_classes`` held-out samples of every class.

    The held-out samples of each class are drawn without replacement with ``numpy.random.default_rng(seed)``;
    both index arrays are sorted (original order preserved).

    Examples
    --------
    >>> import numpy as np
    >>> keep, held = balanced_holdout(np.array([0, 1] * 10), 4, 2, seed=0, where="doc")
    >>> len(keep), np.bincount(np.array([0, 1] * 10)[held]).tolist()
    (16, [2, 2])
    """
    labels = np.asarray(labels)
    if size < 0 or size % num_classes:
        raise InvalidInputError(f"{where}: the validation size must be a non-negative multiple of the number of "
                                f"classes ({num_classes}) so that it is balanced; got {size}")
    per_class = size // num_classes
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise InvalidInputError(f"{where}: class {c} has {len(idx)} training samples, fewer than the "
                                    f"{per_class} per class needed for a balanced validation split of {size}")
        held.append(rng.choice(idx, size=per_class, replace=False))
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx
