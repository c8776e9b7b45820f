"""Frozen copy of act_bench/space/_ops.py before the gradient-safe operators (main @ 881f6f3), module docstring dropped.

Kept verbatim as an independent reference: the new operators must produce bit-identical forward values, and the
gradient audit measures the old autograd gradients with it. Do not edit.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import torch

__all__ = [
    "BINARY_OPS",
    "EXTRA_UNARY_OPS",
    "NARY_OPS",
    "UNARY_OPS",
    "OpKind",
    "Operator",
    "get_operator",
    "list_operators",
]

_F32_EPS = float(torch.finfo(torch.float32).eps)
_SOFTPLUS_THRESHOLD = math.log(_F32_EPS) + 2.0  # TF: log(eps) + 2, about -13.94 for float32
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class OpKind(str, Enum):
    """Arity class of an operator (and of a schema placeholder)."""

    UNARY = "unary"
    BINARY = "binary"
    NARY = "n-ary"


@dataclass(frozen=True)
class Operator:
    """One primitive operator.

    Attributes
    ----------
    name : str
        Upstream-compatible spelling, e.g. ``"log_sigmoid"``.
    kind : OpKind
        ``unary`` takes 1 argument, ``binary`` 2, ``n-ary`` 2 or more.
    fn : callable
        Element-wise torch implementation taking ``arity`` tensors.
    extra : bool
        True for the optional operators not in the paper's Table 3.
    """

    name: str
    kind: OpKind
    fn: Callable[..., torch.Tensor]
    extra: bool = False

    def accepts(self, n_args: int) -> bool:
        if self.kind is OpKind.UNARY:
            return n_args == 1
        if self.kind is OpKind.BINARY:
            return n_args == 2
        return n_args >= 2

    @property
    def arity_text(self) -> str:
        return {OpKind.UNARY: "1 argument", OpKind.BINARY: "2 arguments", OpKind.NARY: "2 or more arguments"}[self.kind]


def _softplus(x: torch.Tensor) -> torch.Tensor:
    # tf.math.softplus (Eigen scalar_softplus_op): thresholded to avoid overflow and keep precision.
    too_large = x > -_SOFTPLUS_THRESHOLD
    too_small = x < _SOFTPLUS_THRESHOLD
    safe = torch.where(too_large | too_small, torch.zeros_like(x), x)
    return torch.where(too_large, x, torch.where(too_small, torch.exp(x), torch.log1p(torch.exp(safe))))


def _elu(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, x, torch.expm1(x))


def _selu(x: torch.Tensor) -> torch.Tensor:
    return _SELU_SCALE * torch.where(x > 0, x, _SELU_ALPHA * torch.expm1(x))


def _hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def _softsign(x: torch.Tensor) -> torch.Tensor:
    return x / (1.0 + torch.abs(x))


def _swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def _log_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return -_softplus(-x)


def _elish(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return torch.where(x >= 0, x * s, torch.expm1(x) * s)


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.erf(x * (1.0 / math.sqrt(2.0))))


def _fold(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[..., torch.Tensor]:
    def nary(*args: torch.Tensor) -> torch.Tensor:
        out = args[0]
        for a in args[1:]:
            out = fn(out, a)
        return out

    return nary


_U = OpKind.UNARY
UNARY_OPS: dict[str, Operator] = {op.name: op for op in [
    Operator("zero", _U, torch.zeros_like),
    Operator("one", _U, torch.ones_like),
    Operator("identity", _U, lambda x: x),
    Operator("negative", _U, torch.neg),
    Operator("abs", _U, torch.abs),
    Operator("reciprocal", _U, lambda x: 1.0 / x),
    Operator("square", _U, lambda x: x * x),
    Operator("exp", _U, torch.exp),
    Operator("erf", _U, torch.erf),
    Operator("erfc", _U, torch.erfc),
    Operator("sinh", _U, torch.sinh),
    Operator("cosh", _U, torch.cosh),
    Operator("tanh", _U, torch.tanh),
    Operator("expm1", _U, torch.expm1),
    Operator("sigmoid", _U, torch.sigmoid),
    Operator("log_sigmoid", _U, _log_sigmoid),
    Operator("arcsinh", _U, torch.asinh),
    Operator("arctan", _U, torch.atan),
    Operator("bessel_i0e", _U, torch.special.i0e),
    Operator("bessel_i1e", _U, torch.special.i1e),
    Operator("relu", _U, torch.relu),
    Operator("elu", _U, _elu),
    Operator("selu", _U, _selu),
    Operator("swish", _U, _swish),
    Operator("softplus", _U, _softplus),
    Operator("softsign", _U, _softsign),
    Operator("hard_sigmoid", _U, _hard_sigmoid),
]}

EXTRA_UNARY_OPS: dict[str, Operator] = {op.name: op for op in [
    Operator("elish", _U, _elish, extra=True),
    Operator("leakyrelu", _U, lambda x: torch.where(x > 0, x, 0.2 * x), extra=True),
    Operator("mish", _U, lambda x: x * torch.tanh(_softplus(x)), extra=True),
    Operator("gelu", _U, _gelu, extra=True),
]}

_B = OpKind.BINARY
BINARY_OPS: dict[str, Operator] = {op.name: op for op in [
    Operator("add", _B, torch.add),
    Operator("sub", _B, torch.sub),
    Operator("mul", _B, torch.mul),
    Operator("div", _B, torch.div),
    Operator("pow", _B, torch.pow),
    Operator("max", _B, torch.maximum),
    Operator("min", _B, torch.minimum),
]}

_N = OpKind.NARY
NARY_OPS: dict[str, Operator] = {op.name: op for op in [
    Operator("sum_n", _N, _fold(torch.add)),
    Operator("prod_n", _N, _fold(torch.mul)),
    Operator("max_n", _N, _fold(torch.maximum)),
    Operator("min_n", _N, _fold(torch.minimum)),
]}

_ALL: dict[str, Operator] = {**UNARY_OPS, **EXTRA_UNARY_OPS, **BINARY_OPS, **NARY_OPS}


def list_operators(kind: OpKind | str | None = None, *, extra: bool = True) -> list[str]:
    """Names of the operators, in table order, optionally of one ``kind``; ``extra=False`` drops the extra unary ones.

    Examples
    --------
    >>> len(list_operators("unary", extra=False)), len(list_operators("binary")), len(list_operators("n-ary"))
    (27, 7, 4)
    """
    kind = OpKind(kind) if kind is not None else None
    return [n for n, op in _ALL.items() if (kind is None or op.kind is kind) and (extra or not op.extra)]


def get_operator(name: str) -> Operator | None:
    """The :class:`Operator` called ``name``, or ``None`` if there is none."""
    return _ALL.get(name)
