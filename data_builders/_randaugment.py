"""RandAugment (Cubuk et al. 2020) as batched tensor ops.

Operations (``RANDAUGMENT_OPS``), with ``level = magnitude / 10`` and a random sign per sample for signed ops:

===============  ==================================================================================
identity         no change
shear_x/_y       affine shear with factor ``0.3 * level``
translate_x/_y   shift by ``0.45 * level`` of the image side
rotate           rotation by ``30 * level`` degrees about the centre
brightness       blend with black, factor ``1 + 0.9 * level`` (signed)
color            blend with the grayscale image (saturation), factor ``1 + 0.9 * level`` (signed)
contrast         blend with the mean gray level, factor ``1 + 0.9 * level`` (signed)
sharpness        blend with a 3x3 smoothed image (interior pixels), factor ``1 + 0.9 * level`` (signed)
posterize        keep ``8 - round(4 * level)`` bits
solarize         invert pixels ``>= 255 * (1 - level)``
autocontrast     stretch each channel to the full [0, 255] range
equalize         per-channel histogram equalisation (PIL's algorithm)
===============  ==================================================================================

Geometric ops use nearest-neighbour sampling with black fill. Pixels are processed on the 0-255 scale: ``uint8``
inputs are rounded back to ``uint8`` after each op; floating inputs are taken to be in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from act_bench.errors import InvalidInputError
from data_builders._augment import _check_batch, _check_generator, _to_device

__all__ = ["RANDAUGMENT_OPS", "apply_op", "rand_augment"]

_GRAY = (0.299, 0.587, 0.114)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise InvalidInputError(f"RandAugment color ops need 1 or 3 channels; got {x.shape[1]}")
    w = torch.tensor(_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _blend(img: torch.Tensor, degenerate: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    f = _to_device(factor, img.device, img.dtype).view(-1, 1, 1, 1)
    return (degenerate + f * (img - degenerate)).clamp(0, 255)


def _affine(x: torch.Tensor, matrix: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Output pixel at offset ``u`` (pixels, from the centre) takes the input at ``matrix @ u + shift``."""
    n, c, h, w = x.shape
    scale = torch.tensor([w / 2.0, h / 2.0], dtype=torch.float64)
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, :, :2] = matrix / scale.view(1, 2, 1) * scale.view(1, 1, 2)
    theta[:, :, 2] = shift / scale
    grid = F.affine_grid(_to_device(theta, x.device, torch.float32), [n, c, h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _eye(n: int) -> torch.Tensor:
    return torch.eye(2, dtype=torch.float64).repeat(n, 1, 1)


def _shear_x(x, level, sign):
    m = _eye(x.shape[0])
    m[:, 0, 1] = 0.3 * level * sign
    return _affine(x, m, torch.zeros(x.shape[0], 2, dtype=torch.float64))


def _shear_y(x, level, sign):
    m = _eye(x.shape[0])
    m[:, 1, 0] = 0.3 * level * sign
    return _affine(x, m, torch.zeros(x.shape[0], 2, dtype=torch.float64))


def _translate_x(x, level, sign):
    shift = torch.zeros(x.shape[0], 2, dtype=torch.float64)
    shift[:, 0] = -0.45 * level * sign * x.shape[3]
    return _affine(x, _eye(x.shape[0]), shift)


def _translate_y(x, level, sign):
    shift = torch.zeros(x.shape[0], 2, dtype=torch.float64)
    shift[:, 1] = -0.45 * level * sign * x.shape[2]
    return _affine(x, _eye(x.shape[0]), shift)


def _rotate(x, level, sign):
    angle = math.radians(30.0 * level) * sign
    cos, sin = torch.cos(angle), torch.sin(angle)
    m = torch.stack([torch.stack([cos, -sin], dim=1), torch.stack([sin, cos], dim=1)], dim=1)
    return _affine(x, m, torch.zeros(x.shape[0], 2, dtype=torch.float64))


def _enhance_factor(level: float, sign: torch.Tensor) -> torch.Tensor:
    return 1.0 + 0.9 * level * sign


def _brightness(x, level, sign):
    return _blend(x, torch.zeros_like(x), _enhance_factor(level, sign))


def _color(x, level, sign):
    return _blend(x, _gray(x).expand_as(x), _enhance_factor(level, sign))


def _contrast(x, level, sign):
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean.expand_as(x), _enhance_factor(level, sign))


def _sharpness(x, level, sign):
    _n, c, h, w = x.shape
    if h < 3 or w < 3:
        return x
    kernel = torch.ones(3, 3, dtype=x.dtype, device=x.device)
    kernel[1, 1] = 5.0
    kernel = (kernel / kernel.sum()).expand(c, 1, 3, 3)
    smooth = F.conv2d(x, kernel, groups=c).round()
    degenerate = x.clone()
    degenerate[:, :, 1:-1, 1:-1] = smooth
    return _blend(x, degenerate, _enhance_factor(level, sign))


def _posterize(x, level, sign):
    bits = 8 - round(4 * level)
    shift = 8 - bits
    return torch.floor(x.round() / 2**shift) * 2**shift


def _solarize(x, level, sign):
    threshold = 255.0 * (1.0 - level)
    return torch.where(x >= threshold, 255.0 - x, x)


def _autocontrast(x, level, sign):
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    ok = span > 0
    return torch.where(ok, (x - lo) * 255.0 / torch.where(ok, span, torch.ones_like(span)), x)


def _equalize(x, level, sign):
    n, c, h, w = x.shape
    flat = x.round().clamp(0, 255).long().reshape(n * c, h * w)
    hist = torch.zeros(n * c, 256, dtype=torch.long, device=x.device).scatter_add_(1, flat, torch.ones_like(flat))
    last = 255 - (hist.flip(1) > 0).long().argmax(dim=1, keepdim=True)
    step = (hist.sum(dim=1, keepdim=True) - hist.gather(1, last)) // 255
    before = hist.cumsum(dim=1) - hist
    safe = torch.where(step > 0, step, torch.ones_like(step))
    lut = ((step // 2 + before) // safe).clamp(max=255)
    out = torch.where(step > 0, lut.gather(1, flat), flat)
    return out.reshape(n, c, h, w).to(x.dtype)


def _identity(x, level, sign):
    return x


_OPS: dict[str, Callable[[torch.Tensor, float, torch.Tensor], torch.Tensor]] = {
    "identity": _identity, "shear_x": _shear_x, "shear_y": _shear_y, "translate_x": _translate_x,
    "translate_y": _translate_y, "rotate": _rotate, "brightness": _brightness, "color": _color,
    "contrast": _contrast, "sharpness": _sharpness, "posterize": _posterize, "solarize": _solarize,
    "autocontrast": _autocontrast, "equalize": _equalize,
}
#: Names of the RandAugment operations, in the order used for sampling.
RANDAUGMENT_OPS: tuple[str, ...] = tuple(_OPS)


def _to_255(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32) if x.dtype == torch.uint8 else x.to(torch.float32) * 255.0


def _from_255(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.uint8:
        return x.round().clamp(0, 255).to(torch.uint8)
    return (x / 255.0).to(dtype)


def apply_op(x: torch.Tensor, name: str, magnitude: float, sign: torch.Tensor | None = None) -> torch.Tensor:
    """Apply the RandAugment operation ``name`` at ``magnitude`` (0-10) to every image of the batch.

    ``sign`` (``(N,)`` of +-1, default +1) chooses the direction of signed ops per sample.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[[[0, 100, 200]]]], dtype=torch.uint8)
    >>> apply_op(x, "solarize", 5.0)[0, 0, 0].tolist()        # invert pixels >= 127.5
    [0, 100, 55]
    """
    _check_batch(x, "apply_op")
    if name not in _OPS:
        raise InvalidInputError(f"unknown RandAugment op {name!r}; valid ops: {', '.join(RANDAUGMENT_OPS)}")
    if sign is None:
        sign = torch.ones(x.shape[0], dtype=torch.float64)
    sign = sign.detach().cpu()
    out = _OPS[name](_to_255(x), float(magnitude) / 10.0, sign.to(torch.float64))
    return _from_255(out, x.dtype)


def rand_augment(x: torch.Tensor, generator: torch.Generator, *, magnitude: float, num_ops: int,
                 ops: tuple[str, ...] = RANDAUGMENT_OPS) -> torch.Tensor:
    """RandAugment: ``num_ops`` times, each image gets one operation drawn uniformly from ``ops``.

    Parameters
    ----------
    x : torch.Tensor
        ``uint8`` images ``(N, C, H, W)`` or floating images in [0, 1].
    generator : torch.Generator
        Source of all randomness (op choice and sign per image and round).
    magnitude : float
        Strength on the 0-10 scale (Table 4: 6).
    num_ops : int
        Operations applied in sequence (Table 4: 2).
    ops : tuple of str
        Subset of :data:`RANDAUGMENT_OPS` to draw from.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8, generator=g)
    >>> y = rand_augment(x, g, magnitude=6, num_ops=2)
    >>> y.shape, y.dtype
    (torch.Size([4, 3, 16, 16]), torch.uint8)
    """
    _check_batch(x, "rand_augment")
    _check_generator(generator, "rand_augment")
    if not (0 <= magnitude <= 10):
        raise InvalidInputError(f"parameter magnitude of rand_augment must be in [0, 10]; got {magnitude!r}")
    if isinstance(num_ops, bool) or not isinstance(num_ops, int) or num_ops < 0:
        raise InvalidInputError(f"parameter num_ops of rand_augment must be an integer >= 0; got {num_ops!r}")
    unknown = [o for o in ops if o not in _OPS]
    if unknown or not ops:
        raise InvalidInputError(f"parameter ops of rand_augment must be a non-empty subset of "
                                f"{', '.join(RANDAUGMENT_OPS)}; got {ops!r}")
    level = float(magnitude) / 10.0
    work = _to_255(x)
    for _ in range(num_ops):
        choice = torch.randint(0, len(ops), (x.shape[0],), generator=generator, device=generator.device).cpu()
        draw = torch.rand(x.shape[0], generator=generator, device=generator.device).cpu()
        sign = torch.where(draw < 0.5, -1.0, 1.0).to(torch.float64)
        for k, name in enumerate(ops):
            mask = choice == k
            if mask.any():  # index tensors, not a device mask: boolean indexing on a GPU synchronises
                rows = _to_device(mask.nonzero().squeeze(1), work.device)
                out = _OPS[name](work[rows], level, sign[mask]).clamp(0, 255)
                work[rows] = out.round() if x.dtype == torch.uint8 else out
    return _from_255(work, x.dtype)
