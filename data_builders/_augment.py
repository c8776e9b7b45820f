"""Batch augmentations as pure tensor ops (no torchvision); every random op takes a ``torch.Generator``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from act_bench.errors import InvalidInputError

__all__ = [
    "MixedBatch",
    "center_crop",
    "crop_and_resize",
    "cutmix",
    "horizontal_flip",
    "mixup",
    "mixup_or_cutmix",
    "normalize",
    "one_hot",
    "random_crop",
    "random_horizontal_flip",
    "random_resized_crop",
    "resize",
    "sample_beta",
    "sample_resized_crop_boxes",
    "to_float",
]


@dataclass(frozen=True)
class MixedBatch:
    """Result of mixup / cutmix.

    Attributes
    ----------
    x : torch.Tensor
        Mixed images.
    y : torch.Tensor
        Soft targets ``float32 (N, num_classes)``; each row sums to 1.
    lam : float
        Weight of the original sample (for cutmix: the exact fraction of pixels kept from it).
    index : torch.Tensor
        ``int64 (N,)``: sample ``i`` was mixed with sample ``index[i]``.
    box : tuple of int or None
        Cutmix box ``(top, left, bottom, right)`` (exclusive ends), None for mixup.
    """

    x: torch.Tensor
    y: torch.Tensor
    lam: float
    index: torch.Tensor
    box: tuple[int, int, int, int] | None = None


# ------------------------------------------------------------------------------------------------------ helpers
def _check_batch(x: torch.Tensor, func: str, ndim: int = 4) -> None:
    if not isinstance(x, torch.Tensor):
        raise InvalidInputError(f"parameter x of {func} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim != ndim:
        shape = "(N, C, H, W)" if ndim == 4 else f"{ndim}-D"
        raise InvalidInputError(f"parameter x of {func} must be a batch of shape {shape}; got shape "
                                f"{tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise InvalidInputError(f"parameter x of {func} must be uint8 or floating point; got {x.dtype}")


def _check_generator(generator: torch.Generator, func: str) -> None:
    if not isinstance(generator, torch.Generator):
        raise InvalidInputError(f"parameter generator of {func} must be a torch.Generator; "
                                f"got {type(generator).__name__}")


def _uniform(n: int, generator: torch.Generator, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64,
                                           device=generator.device).cpu()


def _to_device(t: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Copy host-drawn random parameters to ``device`` without a host synchronisation.

    CPU -> CUDA copies go through pinned memory with ``non_blocking=True`` (PyTorch's pinned-memory cache keeps the
    buffer alive until the copy is done); on the CPU this is a plain ``.to``.
    """
    if dtype is not None:
        t = t.to(dtype)
    if t.device == torch.device(device):
        return t
    if torch.device(device).type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _back_to(x: torch.Tensor, like_dtype: torch.dtype) -> torch.Tensor:
    if like_dtype == torch.uint8:
        return x.round().clamp_(0, 255).to(torch.uint8)
    return x.to(like_dtype)


def sample_beta(alpha: float, generator: torch.Generator) -> float:
    """One draw from Beta(alpha, alpha), reproducible from ``generator`` (via a derived numpy generator)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def one_hot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``float32 (N, num_classes)`` one-hot targets of ``int64`` labels."""
    return F.one_hot(y.long(), num_classes).to(torch.float32)


# ----------------------------------------------------------------------------------------- conversion / scaling
def to_float(x: torch.Tensor) -> torch.Tensor:
    """``uint8`` pixels to ``float32`` in [0, 1]; floating inputs are returned as ``float32`` unchanged in value.

    Examples
    --------
    >>> import torch
    >>> to_float(torch.tensor([0, 255], dtype=torch.uint8)).tolist()
    [0.0, 1.0]
    """
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255.0)
    return x.to(torch.float32)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Per-channel ``(x - mean) / std`` for batches ``(N, C, ...)``; ``uint8`` inputs go through :func:`to_float`.

    Examples
    --------
    >>> import torch
    >>> normalize(torch.ones(1, 2, 3), [1.0, 0.5], [1.0, 0.25])[0, :, 0].tolist()
    [0.0, 2.0]
    """
    x = to_float(x)
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise InvalidInputError(f"normalize: mean and std must have one value per channel ({x.shape[1]}); got "
                                f"{len(mean)} and {len(std)}")
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(shape)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(shape)
    return (x - m) / s


# --------------------------------------------------------------------------------------------------- flips/crops
def horizontal_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror every image (last axis reversed). ``horizontal_flip(horizontal_flip(x)) == x``."""
    return x.flip(-1)


def random_horizontal_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each sample of the batch independently with probability ``p`` (works for ``(N, C, L)`` too).

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.arange(6.0).view(2, 1, 1, 3)
    >>> y = random_horizontal_flip(x, g)
    >>> all(torch.equal(y[i], x[i]) or torch.equal(y[i], x[i].flip(-1)) for i in range(2))
    True
    """
    _check_generator(generator, "random_horizontal_flip")
    flip = _to_device(torch.rand(x.shape[0], generator=generator, device=generator.device) < p, x.device)
    out = x.clone()
    if flip.any():
        out[flip] = x[flip].flip(-1)
    return out


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator, *, fill: float = 0) -> torch.Tensor:
    """Pad every image by ``padding`` pixels with ``fill`` and take a random crop of the original size.

    Each sample gets its own offsets ``(dy, dx)`` uniform in ``[0, 2 * padding]``: the output is the window
    ``padded[:, dy:dy + H, dx:dx + W]``.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> random_crop(torch.ones(2, 3, 8, 8, dtype=torch.uint8), 4, g).shape
    torch.Size([2, 3, 8, 8])
    """
    _check_batch(x, "random_crop")
    _check_generator(generator, "random_crop")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise InvalidInputError(f"parameter padding of random_crop must be an integer >= 0; got {padding!r}")
    if padding == 0:
        return x.clone()
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding), value=fill)
    dev = x.device
    dy = _to_device(torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=generator.device), dev)
    dx = _to_device(torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=generator.device), dev)
    rows = dy[:, None] + torch.arange(h, device=dev)
    cols = dx[:, None] + torch.arange(w, device=dev)
    return padded[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def crop_and_resize(x: torch.Tensor, boxes: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Crop box ``i`` = ``(top, left, height, width)`` (pixels, float ok) of image ``i`` and resize it to ``size``.

    Bilinear sampling at the output pixel centres (``grid_sample``, ``align_corners=False``, border padding);
    no antialiasing. ``uint8`` inputs come back rounded to ``uint8``.
    """
    _check_batch(x, "crop_and_resize")
    out_h, out_w = (size, size) if isinstance(size, int) else size
    n, c, h, w = x.shape
    boxes = boxes.detach().to(device="cpu", dtype=torch.float64)
    top, left, bh, bw = boxes.unbind(1)
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = bw / w
    theta[:, 0, 2] = (2 * left + bw) / w - 1
    theta[:, 1, 1] = bh / h
    theta[:, 1, 2] = (2 * top + bh) / h - 1
    grid = F.affine_grid(_to_device(theta, x.device, torch.float32), [n, c, out_h, out_w], align_corners=False)
    out = F.grid_sample(x.to(torch.float32), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return _back_to(out, x.dtype)


def sample_resized_crop_boxes(n: int, height: int, width: int, generator: torch.Generator, *,
                              scale: tuple[float, float] = (0.08, 1.0),
                              ratio: tuple[float, float] = (3 / 4, 4 / 3), attempts: int = 10) -> torch.Tensor:
    """Boxes ``(top, left, height, width)`` (int64 ``(n, 4)``) of the random resized crop (Szegedy et al. 2015).

    Per sample: up to ``attempts`` draws of an area fraction uniform in ``scale`` and a log-uniform aspect ratio in
    ``ratio``; the first box that fits is placed uniformly at random. If none fits, the central crop with the aspect
    ratio clamped to ``ratio`` is used.
    """
    area = height * width
    target = area * _uniform(n * attempts, generator, *scale).view(n, attempts)
    log_r = _uniform(n * attempts, generator, math.log(ratio[0]), math.log(ratio[1])).view(n, attempts)
    aspect = torch.exp(log_r)
    bw = torch.sqrt(target * aspect).round().long()
    bh = torch.sqrt(target / aspect).round().long()
    ok = (bw > 0) & (bw <= width) & (bh > 0) & (bh <= height)
    u_top = _uniform(n * attempts, generator).view(n, attempts)
    u_left = _uniform(n * attempts, generator).view(n, attempts)
    # Fallback: central crop, aspect ratio clamped to the range.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        fh, fw = height, round(height * ratio[1])
    else:
        fw, fh = width, height
    boxes = torch.empty(n, 4, dtype=torch.long)
    any_ok = ok.any(dim=1)
    first = torch.where(any_ok, ok.long().argmax(dim=1), torch.zeros(n, dtype=torch.long))
    rows = torch.arange(n)
    h_sel, w_sel = bh[rows, first], bw[rows, first]
    top = torch.floor(u_top[rows, first] * (height - h_sel + 1).to(torch.float64)).long()
    left = torch.floor(u_left[rows, first] * (width - w_sel + 1).to(torch.float64)).long()
    boxes[:, 0] = torch.where(any_ok, top, torch.full_like(top, (height - fh) // 2))
    boxes[:, 1] = torch.where(any_ok, left, torch.full_like(left, (width - fw) // 2))
    boxes[:, 2] = torch.where(any_ok, h_sel, torch.full_like(h_sel, fh))
    boxes[:, 3] = torch.where(any_ok, w_sel, torch.full_like(w_sel, fw))
    return boxes


def random_resized_crop(x: torch.Tensor, size: int, generator: torch.Generator, *,
                        scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Random resized crop: a random box covering ``scale`` of the area (aspect in ``ratio``), resized to ``size``.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> random_resized_crop(torch.zeros(4, 3, 40, 40, dtype=torch.uint8), 16, g).shape
    torch.Size([4, 3, 16, 16])
    """
    _check_batch(x, "random_resized_crop")
    _check_generator(generator, "random_resized_crop")
    if not (0 < scale[0] <= scale[1] <= 1):
        raise InvalidInputError(f"parameter scale of random_resized_crop must satisfy 0 < min <= max <= 1; "
                                f"got {scale!r}")
    if not (0 < ratio[0] <= ratio[1]):
        raise InvalidInputError(f"parameter ratio of random_resized_crop must satisfy 0 < min <= max; got {ratio!r}")
    boxes = sample_resized_crop_boxes(x.shape[0], x.shape[2], x.shape[3], generator, scale=scale, ratio=ratio)
    return crop_and_resize(x, boxes, size)


def resize(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a batch (antialiased when shrinking); ``uint8`` stays ``uint8``."""
    _check_batch(x, "resize")
    out_size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[2:]) == out_size:
        return x.clone()
    out = F.interpolate(x.to(torch.float32), size=out_size, mode="bilinear", align_corners=False, antialias=True)
    return _back_to(out, x.dtype)


def center_crop(x: torch.Tensor, fraction: float, size: int | None = None) -> torch.Tensor:
    """Central crop of side ``round(fraction * side)``, resized to ``size`` (default: the input size).

    This is the evaluation transform of Table 4 ("evaluation center crop 95%").

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(100.0).view(1, 1, 10, 10)
    >>> center_crop(x, 0.6, size=6)[0, 0, 0].tolist()         # rows/cols 2..7 of the input, no resize needed
    [22.0, 23.0, 24.0, 25.0, 26.0, 27.0]
    """
    _check_batch(x, "center_crop")
    if not (0 < fraction <= 1):
        raise InvalidInputError(f"parameter fraction of center_crop must be in (0, 1]; got {fraction!r}")
    h, w = x.shape[2:]
    ch, cw = max(1, round(fraction * h)), max(1, round(fraction * w))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[:, :, top:top + ch, left:left + cw]
    return resize(crop, (h, w) if size is None else size)


# --------------------------------------------------------------------------------------------------- mixup/cutmix
def _check_mix(x: torch.Tensor, y: torch.Tensor, alpha: float, num_classes: int, func: str) -> None:
    _check_batch(x, func, ndim=x.ndim if x.ndim >= 3 else 4)
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise InvalidInputError(f"parameter y of {func} must be a 1-D label tensor with one label per sample")
    if not (alpha > 0):
        raise InvalidInputError(f"parameter alpha of {func} must be > 0; got {alpha!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InvalidInputError(f"parameter num_classes of {func} must be an integer >= 1; got {num_classes!r}")


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float, generator: torch.Generator, *, num_classes: int
          ) -> MixedBatch:
    """Mixup (Zhang et al. 2018): ``lam x + (1 - lam) x[index]`` with ``lam ~ Beta(alpha, alpha)`` per batch.

    ``x`` must be floating point (apply :func:`to_float` first); targets are mixed with the same ``lam``.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> out = mixup(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]), 0.1, g, num_classes=4)
    >>> out.y.sum(dim=1).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    _check_mix(x, y, alpha, num_classes, "mixup")
    _check_generator(generator, "mixup")
    if not x.is_floating_point():
        raise InvalidInputError("parameter x of mixup must be floating point (apply to_float first); "
                                f"got {x.dtype}")
    lam = sample_beta(alpha, generator)
    index = _to_device(torch.randperm(x.shape[0], generator=generator, device=generator.device), x.device)
    mixed = x * lam + x[index] * (1.0 - lam)
    target = one_hot(y, num_classes) * lam + one_hot(y[index.to(y.device)], num_classes) * (1.0 - lam)
    return MixedBatch(x=mixed, y=target, lam=lam, index=index)


def cutmix(x: torch.Tensor, y: torch.Tensor, alpha: float, generator: torch.Generator, *, num_classes: int
           ) -> MixedBatch:
    """CutMix (Yun et al. 2019): paste one random box of ``x[index]`` into every image of the batch.

    ``lam ~ Beta(alpha, alpha)``; the box has sides ``sqrt(1 - lam)`` times the image sides around a uniform
    random centre, clipped to the image; ``lam`` is then set to the exact fraction of pixels kept, and targets
    are mixed with it.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> out = cutmix(torch.zeros(2, 1, 8, 8), torch.tensor([0, 1]), 1.0, g, num_classes=2)
    >>> t, l, b, r = out.box
    >>> abs(out.lam - (1 - (b - t) * (r - l) / 64)) < 1e-12
    True
    """
    _check_mix(x, y, alpha, num_classes, "cutmix")
    _check_batch(x, "cutmix")  # boxes are spatial: images only
    _check_generator(generator, "cutmix")
    n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    lam = sample_beta(alpha, generator)
    index = _to_device(torch.randperm(n, generator=generator, device=generator.device), x.device)
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy = int(torch.randint(0, h, (1,), generator=generator, device=generator.device).item())
    cx = int(torch.randint(0, w, (1,), generator=generator, device=generator.device).item())
    top, bottom = min(max(cy - ch // 2, 0), h), min(max(cy + ch // 2, 0), h)
    left, right = min(max(cx - cw // 2, 0), w), min(max(cx + cw // 2, 0), w)
    mixed = x.clone()
    mixed[..., top:bottom, left:right] = x[index][..., top:bottom, left:right]
    lam = 1.0 - (bottom - top) * (right - left) / (h * w)
    target = one_hot(y, num_classes) * lam + one_hot(y[index.to(y.device)], num_classes) * (1.0 - lam)
    return MixedBatch(x=mixed, y=target, lam=lam, index=index, box=(top, left, bottom, right))


def mixup_or_cutmix(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, *, num_classes: int,
                    mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0, switch_prob: float = 0.5
                    ) -> MixedBatch:
    """Apply mixup or cutmix to the batch: when both alphas are > 0, cutmix with probability ``switch_prob``.

    With both alphas 0 the batch is returned with one-hot targets (``lam = 1``).
    """
    _check_generator(generator, "mixup_or_cutmix")
    use_mixup, use_cutmix = mixup_alpha > 0, cutmix_alpha > 0
    if use_mixup and use_cutmix:
        use_cutmix = bool(torch.rand(1, generator=generator, device=generator.device).item() < switch_prob)
        use_mixup = not use_cutmix
    if use_cutmix:
        return cutmix(x, y, cutmix_alpha, generator, num_classes=num_classes)
    if use_mixup:
        return mixup(x, y, mixup_alpha, generator, num_classes=num_classes)
    return MixedBatch(x=x, y=one_hot(y, num_classes), lam=1.0, index=torch.arange(x.shape[0], device=x.device))
