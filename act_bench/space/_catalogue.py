"""The operator catalogue: names, arity classes and the extra flag of every operator, as plain data (no torch).

This is the one place the operator names are defined. The parser (:mod:`act_bench.space._expr`) validates names and
arities against it without importing torch; :mod:`act_bench.space._ops` attaches the torch implementations to each
entry. The order is the table order of the paper's Table 3: 27 unary, then the 4 optional extra unary operators, 7
binary and 4 n-ary operators (each n-ary operator is a left fold of a binary one).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["CATALOGUE", "OpKind", "OpSpec", "get_spec", "list_operators"]


class OpKind(str, Enum):
    """Arity class of an operator (and of a schema placeholder)."""

    UNARY = "unary"
    BINARY = "binary"
    NARY = "n-ary"

    def accepts(self, n_args: int) -> bool:
        """Whether an operator of this kind takes ``n_args`` arguments."""
        if self is OpKind.UNARY:
            return n_args == 1
        if self is OpKind.BINARY:
            return n_args == 2
        return n_args >= 2

    @property
    def arity_text(self) -> str:
        """``"1 argument"``, ``"2 arguments"`` or ``"2 or more arguments"``."""
        return {OpKind.UNARY: "1 argument", OpKind.BINARY: "2 arguments",
                OpKind.NARY: "2 or more arguments"}[self]


@dataclass(frozen=True)
class OpSpec:
    """Catalogue entry of one operator.

    Attributes
    ----------
    name : str
        Upstream-compatible spelling, e.g. ``"log_sigmoid"``.
    kind : OpKind
        ``unary`` takes 1 argument, ``binary`` 2, ``n-ary`` 2 or more.
    extra : bool
        True for the optional operators not in the paper's Table 3.
    fold : str or None
        For an n-ary operator, the binary operator it left-folds (``sum_n``: ``add``); else None.
    """

    name: str
    kind: OpKind
    extra: bool = False
    fold: str | None = None

    def accepts(self, n_args: int) -> bool:
        return self.kind.accepts(n_args)

    @property
    def arity_text(self) -> str:
        return self.kind.arity_text


_UNARY = ("zero", "one", "identity", "negative", "abs", "reciprocal", "square", "exp", "erf", "erfc", "sinh", "cosh",
          "tanh", "expm1", "sigmoid", "log_sigmoid", "arcsinh", "arctan", "bessel_i0e", "bessel_i1e", "relu", "elu",
          "selu", "swish", "softplus", "softsign", "hard_sigmoid")
_EXTRA_UNARY = ("elish", "leakyrelu", "mish", "gelu")
_BINARY = ("add", "sub", "mul", "div", "pow", "max", "min")
_NARY = (("sum_n", "add"), ("prod_n", "mul"), ("max_n", "max"), ("min_n", "min"))

#: Every operator, in table order, by name.
CATALOGUE: dict[str, OpSpec] = {spec.name: spec for spec in [
    *(OpSpec(name, OpKind.UNARY) for name in _UNARY),
    *(OpSpec(name, OpKind.UNARY, extra=True) for name in _EXTRA_UNARY),
    *(OpSpec(name, OpKind.BINARY) for name in _BINARY),
    *(OpSpec(name, OpKind.NARY, fold=step) for name, step in _NARY),
]}


def list_operators(kind: OpKind | str | None = None, *, extra: bool = True) -> list[str]:
    """Names of the operators in table order, optionally of one ``kind``; ``extra=False`` drops the extra ones.

    Examples
    --------
    >>> len(list_operators("unary", extra=False)), len(list_operators("binary")), len(list_operators("n-ary"))
    (27, 7, 4)
    """
    kind = OpKind(kind) if kind is not None else None
    return [n for n, s in CATALOGUE.items() if (kind is None or s.kind is kind) and (extra or not s.extra)]


def get_spec(name: str) -> OpSpec | None:
    """The catalogue entry called ``name``, or ``None`` if there is none."""
    return CATALOGUE.get(name)
