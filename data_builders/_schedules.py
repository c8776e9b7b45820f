"""Optimizer and per-step learning-rate schedule built from a recipe."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler

from act_bench.errors import InvalidInputError
from act_bench.utils import check_int
from data_builders.recipes import Recipe, ScheduleConfig

__all__ = ["WarmupDecayLR", "build_optimizer", "build_scheduler", "learning_rate_at", "learning_rates"]


def _steps(schedule: ScheduleConfig, epochs: int, steps_per_epoch: int) -> tuple[int, int]:
    total = epochs * steps_per_epoch
    warmup = min(round(schedule.warmup_epochs * steps_per_epoch), total)
    return warmup, total


def learning_rate_at(schedule: ScheduleConfig, step: int, *, epochs: int, steps_per_epoch: int) -> float:
    """Learning rate of optimisation step ``step`` (0-based) of a run of ``epochs`` x ``steps_per_epoch`` steps.

    With ``W = round(warmup_epochs * steps_per_epoch)`` warmup steps and ``T = epochs * steps_per_epoch`` steps:
    ``lr(s) = start + (peak - start) * s / W`` for ``s < W``; afterwards, with ``p = (s - W) / (T - W)``,
    ``peak + (final - peak) * p`` (linear), ``final + (peak - final) * (1 + cos(pi p)) / 2`` (cosine) or ``peak``
    (constant). Steps beyond ``T`` keep the value at ``p = 1``.

    Examples
    --------
    >>> from data_builders.recipes import get_recipe
    >>> s = get_recipe("act-bench-cnn").schedule          # warmup 0 -> 0.1 over 5 epochs, then linear decay to 0
    >>> [round(learning_rate_at(s, k, epochs=25, steps_per_epoch=10), 4) for k in (0, 25, 50, 150)]
    [0.0, 0.05, 0.1, 0.05]
    """
    step = check_int(step, "step", "learning_rate_at", min_value=0)
    epochs = check_int(epochs, "epochs", "learning_rate_at", min_value=1)
    steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch", "learning_rate_at", min_value=1)
    warmup, total = _steps(schedule, epochs, steps_per_epoch)
    if step < warmup:
        return schedule.start_lr + (schedule.peak_lr - schedule.start_lr) * step / warmup
    if schedule.decay == "constant" or total == warmup:
        return schedule.peak_lr
    progress = min((step - warmup) / (total - warmup), 1.0)
    if schedule.decay == "linear":
        return schedule.peak_lr + (schedule.final_lr - schedule.peak_lr) * progress
    return schedule.final_lr + (schedule.peak_lr - schedule.final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def learning_rates(recipe: Recipe, steps_per_epoch: int) -> np.ndarray:
    """Learning rate of every step of a run of ``recipe`` (float64 array of ``epochs * steps_per_epoch`` values)."""
    return np.array([learning_rate_at(recipe.schedule, k, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch)
                     for k in range(recipe.epochs * steps_per_epoch)])


class WarmupDecayLR(LRScheduler):
    """Per-step scheduler setting every parameter group's ``lr`` to :func:`learning_rate_at` (closed form).

    Call ``scheduler.step()`` after each ``optimizer.step()``. ``state_dict``/``load_state_dict`` restore the step
    counter, so a resumed run continues the same schedule.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    schedule : ScheduleConfig
    epochs, steps_per_epoch : int
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: ScheduleConfig, *, epochs: int,
                 steps_per_epoch: int, last_epoch: int = -1) -> None:
        self.schedule = schedule
        self.epochs = check_int(epochs, "epochs", "WarmupDecayLR", min_value=1)
        self.steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch", "WarmupDecayLR", min_value=1)
        super().__init__(optimizer, last_epoch)

    def _lr(self) -> float:
        return learning_rate_at(self.schedule, max(self.last_epoch, 0), epochs=self.epochs,
                                steps_per_epoch=self.steps_per_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [self._lr() for _ in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()


def build_optimizer(params: Iterable[Any], recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimizer over ``params`` (initial ``lr`` = the schedule's first value).

    ``sgd``: ``torch.optim.SGD(momentum, nesterov, weight_decay)`` with ``weight_decay`` an L2 coefficient.
    ``adamw``: ``torch.optim.AdamW(betas, eps, weight_decay)``; PyTorch's decoupled decay multiplies the weights by
    ``1 - lr_t * weight_decay`` each step, i.e. a decay of ``weight_decay x current learning rate`` (Table 4: 0.02).

    Examples
    --------
    >>> import torch
    >>> from data_builders.recipes import get_recipe
    >>> opt = build_optimizer(torch.nn.Linear(2, 2).parameters(), get_recipe("act-bench-vit"))
    >>> type(opt).__name__, opt.param_groups[0]["weight_decay"]
    ('AdamW', 0.02)
    """
    if not isinstance(recipe, Recipe):
        raise InvalidInputError(f"parameter recipe of build_optimizer must be a Recipe; got {type(recipe).__name__}")
    opt = recipe.optimizer
    lr = recipe.schedule.start_lr if recipe.schedule.warmup_epochs > 0 else recipe.schedule.peak_lr
    if opt.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=opt.momentum, nesterov=opt.nesterov,
                               weight_decay=opt.weight_decay)
    return torch.optim.AdamW(params, lr=lr, betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int) -> WarmupDecayLR:
    """The recipe's per-step :class:`WarmupDecayLR` for ``optimizer``.

    Examples
    --------
    >>> import torch
    >>> from data_builders.recipes import get_recipe
    >>> r = get_recipe("act-bench-vit")
    >>> opt = build_optimizer(torch.nn.Linear(2, 2).parameters(), r)
    >>> sched = build_scheduler(opt, r, steps_per_epoch=4)
    >>> opt.param_groups[0]["lr"]          # step 0: the warmup's start value
    0.0001
    """
    if not isinstance(recipe, Recipe):
        raise InvalidInputError(f"parameter recipe of build_scheduler must be a Recipe; got {type(recipe).__name__}")
    return WarmupDecayLR(optimizer, recipe.schedule, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch)
