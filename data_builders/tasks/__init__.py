"""Classification tasks (datasets) with train / validation / test splits, and a registry.

Registered tasks: ``mnist1d`` (generated offline), ``cifar10``, ``cifar100``, ``imagenette``, ``imagenet``
(Hugging Face ``datasets``, by Hub id or from a local copy). See ``docs/recipes.md`` for sizes and split choices.

Examples
--------
>>> from data_builders.tasks import create_task, list_tasks
>>> "cifar10" in list_tasks()
True
>>> val = create_task("mnist1d").load("val")
>>> val.y.bincount().tolist()
[40, 40, 40, 40, 40, 40, 40, 40, 40, 40]
"""

from __future__ import annotations

from data_builders.tasks._base import (
    SPLITS,
    Task,
    TaskData,
    balanced_holdout,
    create_task,
    list_tasks,
    register_task,
)
from data_builders.tasks._images import (
    Cifar10Task,
    Cifar100Task,
    ImagenetTask,
    ImagenetteTask,
    ImageTask,
    decode_image,
)
from data_builders.tasks._mnist1d import Mnist1dTask

__all__ = [
    "SPLITS",
    "Cifar10Task",
    "Cifar100Task",
    "ImageTask",
    "ImagenetTask",
    "ImagenetteTask",
    "Mnist1dTask",
    "Task",
    "TaskData",
    "balanced_holdout",
    "create_task",
    "decode_image",
    "list_tasks",
    "register_task",
]
