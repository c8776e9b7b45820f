"""Recipe-driven train/eval batch transforms composed from the augmentation ops."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from act_bench.errors import InvalidInputError
from data_builders._augment import (
    center_crop,
    mixup_or_cutmix,
    normalize,
    random_crop,
    random_horizontal_flip,
    random_resized_crop,
    resize,
    to_float,
)
from data_builders._randaugment import rand_augment
from data_builders.recipes import AugmentConfig

__all__ = ["eval_batch", "train_batch"]


def _finish(x: torch.Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> torch.Tensor:
    if mean is None or std is None:
        return to_float(x)
    return normalize(x, mean, std)


def train_batch(x: torch.Tensor, y: torch.Tensor, augment: AugmentConfig, generator: torch.Generator, *,
                num_classes: int, image_size: int | None = None, mean: Sequence[float] | None = None,
                std: Sequence[float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Training transform of one batch as the recipe's ``augment`` section says.

    Image batches (``(N, C, H, W)``), in order: random resized crop to ``image_size`` (or a resize to it when the
    stored size differs), random crop with padding, horizontal flip, RandAugment, conversion to float in [0, 1],
    normalisation with ``mean``/``std`` (skipped when they are None), mixup or cutmix. 1-D batches (``(N, C, L)``)
    are only converted and normalised.

    Returns
    -------
    x : torch.Tensor
        ``float32`` inputs for the network.
    target : torch.Tensor
        ``int64`` labels, or ``float32 (N, num_classes)`` soft targets when mixup/cutmix is on (both forms are
        accepted by ``torch.nn.functional.cross_entropy``).

    Examples
    --------
    >>> import torch
    >>> from data_builders.recipes import get_recipe
    >>> r = get_recipe("act-bench-vit")
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randint(0, 256, (4, 3, 40, 40), dtype=torch.uint8, generator=g)
    >>> xb, t = train_batch(x, torch.tensor([0, 1, 2, 3]), r.augment, g, num_classes=10, image_size=32)
    >>> tuple(xb.shape), xb.dtype, tuple(t.shape)
    ((4, 3, 32, 32), torch.float32, (4, 10))
    """
    if not isinstance(augment, AugmentConfig):
        raise InvalidInputError(f"parameter augment of train_batch must be an AugmentConfig; "
                                f"got {type(augment).__name__}")
    if x.ndim == 4:
        if augment.random_resized_crop_min_scale is not None:
            size = image_size or x.shape[-1]
            x = random_resized_crop(x, size, generator, scale=(augment.random_resized_crop_min_scale, 1.0))
        elif image_size is not None and tuple(x.shape[2:]) != (image_size, image_size):
            x = resize(x, image_size)
        if augment.random_crop_padding:
            x = random_crop(x, augment.random_crop_padding, generator)
        if augment.horizontal_flip:
            x = random_horizontal_flip(x, generator)
        if augment.randaugment is not None:
            x = rand_augment(x, generator, magnitude=augment.randaugment.magnitude,
                             num_ops=augment.randaugment.num_ops)
    elif augment.horizontal_flip:
        x = random_horizontal_flip(x, generator)
    x = _finish(x, mean, std)
    if augment.mixup_alpha > 0 or augment.cutmix_alpha > 0:
        mixed = mixup_or_cutmix(x, y, generator, num_classes=num_classes, mixup_alpha=augment.mixup_alpha,
                                cutmix_alpha=augment.cutmix_alpha)
        return mixed.x, mixed.y
    return x, y.long()


def eval_batch(x: torch.Tensor, augment: AugmentConfig, *, image_size: int | None = None,
               mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> torch.Tensor:
    """Evaluation transform: center crop (``eval_center_crop``) or resize to ``image_size``, float, normalise.

    Examples
    --------
    >>> import torch
    >>> from data_builders.recipes import get_recipe
    >>> x = torch.zeros(2, 3, 40, 40, dtype=torch.uint8)
    >>> eval_batch(x, get_recipe("act-bench-vit").augment, image_size=32).shape
    torch.Size([2, 3, 32, 32])
    """
    if x.ndim == 4:
        if augment.eval_center_crop is not None:
            x = center_crop(x, augment.eval_center_crop, size=image_size)
        elif image_size is not None and tuple(x.shape[2:]) != (image_size, image_size):
            x = resize(x, image_size)
    return _finish(x, mean, std)
