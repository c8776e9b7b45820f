"""Optimizers and per-step learning-rate schedules from a recipe (linear warmup, then linear/cosine decay).

Examples
--------
>>> import torch
>>> from data_builders.recipes import get_recipe
>>> from data_builders.schedules import build_optimizer, build_scheduler
>>> recipe = get_recipe("act-bench-resnet")
>>> model = torch.nn.Linear(4, 2)
>>> opt = build_optimizer(model.parameters(), recipe)
>>> sched = build_scheduler(opt, recipe, steps_per_epoch=10)
>>> for _ in range(25):                     # half of the 5-epoch warmup
...     opt.step(); sched.step()
>>> round(opt.param_groups[0]["lr"], 6)
0.05
"""

from __future__ import annotations

from data_builders._schedules import (
    WarmupDecayLR,
    build_optimizer,
    build_scheduler,
    learning_rate_at,
    learning_rates,
)

__all__ = ["WarmupDecayLR", "build_optimizer", "build_scheduler", "learning_rate_at", "learning_rates"]
