"""Writes the polynomial coefficients of the fast ``bessel_i0e`` kernel in ``act_bench/space/_fast.py``.

``i0e`` is approximated on two ranges of ``a = |x|`` by polynomials fitted to torch's float64 ``special.i0e``
(Cephes, double precision) by Chebyshev interpolation, converted to monomials for Horner's rule in float32:

* ``a <= 8``: ``i0e(a) = P(a / 4 - 1)``, degree :data:`DEGREE_SMALL`;
* ``a > 8``: ``i0e(a) = Q(16 / a - 1) / sqrt(a)``, degree :data:`DEGREE_LARGE` (``Q(-1) = 1/sqrt(2 pi)`` is the
  limit at infinity).

The coefficients are interpolation sums (no least-squares solver), so they do not depend on the machine's LAPACK.
``tests/test_fast_kernels.py`` checks that the constants in ``_fast.py`` equal what this script computes and bounds
the kernel's error against float64.

Usage: python -m act_bench.space._make_fast [--write]
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import numpy as np
import torch
from numpy.polynomial import chebyshev

DEGREE_SMALL = 16
DEGREE_LARGE = 8
_NODES = 256
_TARGET = Path(__file__).with_name("_fast.py")


def _interpolate(fn, degree: int) -> np.ndarray:
    """Chebyshev coefficients of ``fn`` on [-1, 1] from ``_NODES`` Chebyshev nodes (discrete cosine sums)."""
    theta = math.pi * (np.arange(_NODES) + 0.5) / _NODES
    values = fn(np.cos(theta))
    k = np.arange(degree + 1)[:, None]
    coef = 2.0 / _NODES * (np.cos(k * theta[None, :]) * values[None, :]).sum(axis=1)
    coef[0] /= 2.0
    return coef


def _i0e(a: np.ndarray) -> np.ndarray:
    return torch.special.i0e(torch.from_numpy(np.asarray(a, dtype=np.float64))).numpy()


def coefficients() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Monomial coefficients (lowest degree first, rounded to float32) of ``P`` and ``Q``."""
    small = _interpolate(lambda t: _i0e(4.0 * (t + 1.0)), DEGREE_SMALL)
    large = _interpolate(lambda u: _i0e(16.0 / (u + 1.0)) * np.sqrt(16.0 / (u + 1.0)), DEGREE_LARGE)
    return tuple(tuple(float(np.float32(c)) for c in chebyshev.cheb2poly(c)) for c in (small, large))


def render() -> str:
    small, large = coefficients()
    return (f"_I0E_SMALL = {small!r}\n"
            f"_I0E_LARGE = {large!r}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the constants in _fast.py")
    args = parser.parse_args()
    block = render()
    if not args.write:
        print(block, end="")
        return
    text = _TARGET.read_text()
    new = re.sub(r"_I0E_SMALL = \(.*?\)\n_I0E_LARGE = \(.*?\)\n", lambda _: block, text, flags=re.DOTALL)
    _TARGET.write_text(new)


if __name__ == "__main__":
    main()
