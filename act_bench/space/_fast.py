"""Fast CPU kernels for the transcendental primitives of the operators, used while a network trains.

torch's CPU kernels of ``expm1``, ``log1p``, ``asinh``, ``sinh``, ``cosh``, ``tanh``, ``atan`` and ``special.i0e``
call the C library one element at a time (about 10-20 ns per float32 element on an AVX-512 machine, against
0.3-2 ns for ``exp`` or ``sigmoid``); in a small network they, not the convolutions, are most of a training step
(``benchmarks/bench_build.py``). Inside :func:`fast_kernels` the operators compute them instead with NumPy's SIMD
kernels (Intel SVML on AVX-512 machines, NumPy's own elsewhere) and ``i0e`` with a float32 polynomial
(``_make_fast.py``); the results differ from torch's in the last bits only (bounds in ``docs/space.md`` and
``tests/test_fast_kernels.py``). They apply to float32 CPU tensors outside autograd recording (the fused activation
computes its values and derivatives without recording); everything else keeps torch's kernels.

The benchmark's definition of a function (its outputs on the standard inputs, the equivalence classes, the
Gaussian moments of AutoInit, the FIM features) always uses torch's kernels: :func:`fast_kernels` is entered by the
training loop only, and the functions that define the space leave it (:func:`exact_kernels`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch

__all__ = [
    "asinh",
    "atan",
    "cosh",
    "exact_kernels",
    "expm1",
    "fast_kernels",
    "fast_kernels_enabled",
    "i0e",
    "log1p",
    "sinh",
    "tanh",
]

_FAST: ContextVar[bool] = ContextVar("act_bench_fast_kernels", default=False)

# written by ``python -m act_bench.space._make_fast --write``; checked by tests/test_fast_kernels.py
_I0E_SMALL = (0.2070019245147705, -0.11300411820411682, 0.09451521933078766, -0.08905348181724548, 0.08735429495573044, -0.08482472598552704, 0.0791650041937828, -0.07039681077003479, 0.05733398348093033, -0.04020615294575691, 0.028607962653040886, -0.02474137209355831, 0.014528301544487476, -0.0016816029092296958, 0.0012277214555069804, -0.004375828430056572, 0.001981479348614812)
_I0E_LARGE = (0.40217649936676025, 0.0033605522476136684, 0.0001362167822662741, 1.1139815796923358e-05, 1.4780180208617821e-06, 3.0733230005353107e-07, 1.0563581298583813e-07, 3.161985873134654e-08, 1.5218071247602438e-09)

_SMALL32 = tuple(np.float32(c) for c in reversed(_I0E_SMALL))  # highest degree first, for Horner's rule
_LARGE32 = tuple(np.float32(c) for c in reversed(_I0E_LARGE))


@contextmanager
def fast_kernels(enabled: bool = True) -> Iterator[None]:
    """Within the block, the operators use the fast CPU kernels (``enabled=False``: torch's own). Per thread/task
    (a context variable); nests and restores the previous setting on exit."""
    token = _FAST.set(bool(enabled))
    try:
        yield
    finally:
        _FAST.reset(token)


def exact_kernels() -> contextmanager:
    """Within the block, torch's own kernels, even inside :func:`fast_kernels`."""
    return fast_kernels(False)


def fast_kernels_enabled() -> bool:
    return _FAST.get()


def _applies(x: torch.Tensor) -> bool:
    return (_FAST.get() and x.dtype == torch.float32 and x.device.type == "cpu"
            and not (x.requires_grad and torch.is_grad_enabled()))


def _numpy_unary(np_fn: Callable[..., np.ndarray], torch_fn: Callable[[torch.Tensor], torch.Tensor]):
    def kernel(x: torch.Tensor) -> torch.Tensor:
        if not _applies(x):
            return torch_fn(x)
        with np.errstate(all="ignore"):
            return torch.from_numpy(np.asarray(np_fn(x.detach().numpy()), dtype=np.float32))

    kernel.__name__ = torch_fn.__name__ if hasattr(torch_fn, "__name__") else np_fn.__name__
    return kernel


expm1 = _numpy_unary(np.expm1, torch.expm1)
log1p = _numpy_unary(np.log1p, torch.log1p)
asinh = _numpy_unary(np.arcsinh, torch.asinh)
sinh = _numpy_unary(np.sinh, torch.sinh)
cosh = _numpy_unary(np.cosh, torch.cosh)
tanh = _numpy_unary(np.tanh, torch.tanh)
atan = _numpy_unary(np.arctan, torch.atan)


def _horner(t: np.ndarray, coefs: tuple[np.float32, ...]) -> np.ndarray:
    r = np.full_like(t, coefs[0])
    for c in coefs[1:]:
        r *= t
        r += c
    return r


def _i0e_numpy(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    small = a <= np.float32(8.0)
    if small.all():
        return _horner(a * np.float32(0.25) - np.float32(1.0), _SMALL32)
    out = np.empty_like(a)
    s = a[small]
    out[small] = _horner(s * np.float32(0.25) - np.float32(1.0), _SMALL32)
    big = ~small  # a > 8, inf and NaN
    b = a[big]
    out[big] = _horner(np.float32(16.0) / b - np.float32(1.0), _LARGE32) / np.sqrt(b)
    return out


def _torch_i0e(x: torch.Tensor) -> torch.Tensor:
    return torch.special.i0e(x)


i0e = _numpy_unary(_i0e_numpy, _torch_i0e)
i0e.__name__ = "i0e"
