"""Training recipes (the paper's Table 4) as YAML data files, with a registry.

Shipped recipes (one per benchmark table): ``act-bench-cnn``, ``act-bench-resnet``, ``act-bench-vit``,
``cifar100-all-cnn-c``, ``cifar100-resnet-56``, ``imagenet-mobilevitv2-0.5``, ``imagenet-resnet-50`` and
``act-bench-mnist1d``. See ``docs/recipes.md``.

Examples
--------
>>> from data_builders.recipes import get_recipe, list_recipes
>>> "act-bench-resnet" in list_recipes()
True
>>> r = get_recipe("act-bench-vit")
>>> r.optimizer.name, r.schedule.decay, r.augment.randaugment.magnitude
('adamw', 'cosine', 6.0)
"""

from __future__ import annotations

from data_builders.recipes._recipe import (
    DECAYS,
    INITS,
    OPTIMIZERS,
    AugmentConfig,
    OptimizerConfig,
    RandAugmentConfig,
    Recipe,
    ScheduleConfig,
)
from data_builders.recipes._registry import (
    create_recipe,
    get_recipe,
    list_recipes,
    load_recipe,
    register_recipe,
    save_recipe,
)

__all__ = [
    "DECAYS",
    "INITS",
    "OPTIMIZERS",
    "AugmentConfig",
    "OptimizerConfig",
    "RandAugmentConfig",
    "Recipe",
    "ScheduleConfig",
    "create_recipe",
    "get_recipe",
    "list_recipes",
    "load_recipe",
    "register_recipe",
    "save_recipe",
]
