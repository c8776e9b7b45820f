"""Evaluating expressions: standard inputs, ``function_outputs``, the torch module, Gaussian moments."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from act_bench.errors import InvalidInputError
from act_bench.space._expr import Expr, parse
from act_bench.space._ops import get_operator

__all__ = [
    "STANDARD_INPUT_SPEC",
    "ActivationFunction",
    "as_expr",
    "evaluate",
    "function_outputs",
    "gaussian_moments",
    "standard_inputs",
]

#: How the standard inputs are made (recorded in table metadata).
STANDARD_INPUT_SPEC = {"distribution": "normal(0, 1)", "size": 1000, "seed": 0, "clip": [-5.0, 5.0],
                       "generator": "numpy.random.RandomState(0).normal", "dtype": "float32"}


@lru_cache(maxsize=1)
def _standard_inputs() -> np.ndarray:
    # RandomState(0).normal draws exactly what numpy.random.seed(0); numpy.random.normal(size=1000) draws,
    # without touching the user's global numpy state.
    x = np.clip(np.random.RandomState(0).normal(size=1000), -5, 5).astype(np.float32)
    x.setflags(write=False)
    return x


def standard_inputs() -> np.ndarray:
    """The 1,000 standard inputs (float32): ``numpy.random.seed(0); clip(numpy.random.normal(size=1000), -5, 5)``.

    The user's global numpy random state is left untouched. The returned array is read-only.
    """
    return _standard_inputs()


def as_expr(expr: Expr | str) -> Expr:
    """Accept an :class:`Expr` or a string (parsed); anything else is an :class:`InvalidInputError`."""
    if isinstance(expr, Expr):
        if expr.is_schema:
            raise InvalidInputError(f"expected an activation function, got the schema {str(expr)!r}")
        return expr
    if isinstance(expr, str):
        return parse(expr)
    raise InvalidInputError(f"an activation function must be a string or Expr; got {type(expr).__name__}")


def evaluate(expr: Expr | str, x: torch.Tensor) -> torch.Tensor:
    """Apply ``expr`` element-wise to tensor ``x`` (any shape, any floating dtype); shared subtrees computed once."""
    expr = as_expr(expr)
    cache: dict[Expr, torch.Tensor] = {}

    def rec(node: Expr) -> torch.Tensor:
        if node.is_input:
            return x
        hit = cache.get(node)
        if hit is not None:
            return hit
        op = get_operator(node.op)
        out = op.fn(*[rec(a) for a in node.args])
        cache[node] = out
        return out

    return rec(expr)


def function_outputs(expr: Expr | str) -> np.ndarray:
    """Outputs of ``expr`` on the standard inputs: float32 numpy array of shape (1000,).

    Examples
    --------
    >>> y = function_outputs("relu(x)")
    >>> y.shape, y.dtype, bool((y >= 0).all())
    ((1000,), dtype('float32'), True)
    """
    x = torch.from_numpy(standard_inputs().copy())
    with torch.no_grad():
        return evaluate(expr, x).numpy().astype(np.float32, copy=False)


@lru_cache(maxsize=4096)
def _moments(canonical: str) -> tuple[float, float]:
    expr = parse(canonical)
    # Expectation under N(0, 1) by the trapezoid rule on a fine grid (robust for kinks such as relu).
    z = torch.linspace(-10.0, 10.0, 40001, dtype=torch.float64)
    w = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    with torch.no_grad():
        y = evaluate(expr, z)
    if not bool(torch.isfinite(y).all()):
        return math.nan, math.nan
    dz = float(z[1] - z[0])
    mean = float(torch.trapezoid(w * y, dx=dz))
    second = float(torch.trapezoid(w * y * y, dx=dz))
    return mean, second


def gaussian_moments(expr: Expr | str) -> tuple[float, float]:
    """Mean and second moment ``(E[f(z)], E[f(z)^2])`` for ``z ~ N(0, 1)``, computed numerically in float64.

    Returns ``(nan, nan)`` if ``f`` is not finite on [-10, 10].
    """
    return _moments(str(as_expr(expr)))


class ActivationFunction(nn.Module):
    """A ``torch.nn.Module`` applying an activation-function expression element-wise.

    Parameters
    ----------
    expr : str or Expr
        e.g. ``"max(relu(x),cosh(elu(x)))"``.
    normalize : bool, default False
        If True, the output is ``(f(x) - mu) / sigma`` where ``mu`` and ``sigma`` are the mean and standard deviation
        of ``f(z)`` for ``z ~ N(0, 1)``, so the activation has zero mean and unit variance under a standard normal
        input. Raises :class:`InvalidInputError` if those moments are not finite or ``sigma`` is 0.

    Examples
    --------
    >>> act = ActivationFunction("swish(x)")
    >>> act(torch.zeros(2, 3)).shape
    torch.Size([2, 3])
    """

    def __init__(self, expr: Expr | str, *, normalize: bool = False) -> None:
        super().__init__()
        self.expr = as_expr(expr)
        self.normalize = bool(normalize)
        self.shift, self.scale = 0.0, 1.0
        if self.normalize:
            mean, second = gaussian_moments(self.expr)
            var = second - mean * mean
            if not (math.isfinite(mean) and math.isfinite(var)) or var <= 0:
                raise InvalidInputError(f"cannot normalize {str(self.expr)!r}: its mean/variance under N(0,1) is "
                                        f"not finite and positive (mean={mean}, variance={var})")
            self.shift, self.scale = mean, 1.0 / math.sqrt(var)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = evaluate(self.expr, x)
        if self.normalize:
            y = (y - self.shift) * self.scale
        return y

    def extra_repr(self) -> str:
        return f"{str(self.expr)!r}" + (", normalize=True" if self.normalize else "")
