"""Data augmentation as pure tensor ops on batches (no torchvision); random ops take a ``torch.Generator``.

Ops: :func:`random_crop` (padding), :func:`horizontal_flip` / :func:`random_horizontal_flip`,
:func:`random_resized_crop`, :func:`center_crop`, :func:`resize`, :func:`mixup`, :func:`cutmix`,
:func:`mixup_or_cutmix`, :func:`rand_augment` (operations listed in :data:`RANDAUGMENT_OPS`), :func:`to_float`,
:func:`normalize`; recipe-driven compositions :func:`train_batch` and :func:`eval_batch`.

Examples
--------
>>> import torch
>>> from data_builders.augment import random_crop, random_horizontal_flip
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=g)
>>> random_horizontal_flip(random_crop(x, 4, g), g).shape
torch.Size([8, 3, 32, 32])
"""

from __future__ import annotations

from data_builders._augment import (
    MixedBatch,
    center_crop,
    crop_and_resize,
    cutmix,
    horizontal_flip,
    mixup,
    mixup_or_cutmix,
    normalize,
    one_hot,
    random_crop,
    random_horizontal_flip,
    random_resized_crop,
    resize,
    sample_beta,
    sample_resized_crop_boxes,
    to_float,
)
from data_builders._pipeline import eval_batch, train_batch
from data_builders._randaugment import RANDAUGMENT_OPS, apply_op, rand_augment

__all__ = [
    "RANDAUGMENT_OPS",
    "MixedBatch",
    "apply_op",
    "center_crop",
    "crop_and_resize",
    "cutmix",
    "eval_batch",
    "horizontal_flip",
    "mixup",
    "mixup_or_cutmix",
    "normalize",
    "one_hot",
    "rand_augment",
    "random_crop",
    "random_horizontal_flip",
    "random_resized_crop",
    "resize",
    "sample_beta",
    "sample_resized_crop_boxes",
    "to_float",
    "train_batch",
]
