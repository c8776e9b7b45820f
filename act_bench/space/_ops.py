"""Operator tables: the paper's Table 3 (27 unary, 7 binary), 4 n-ary and 4 optional extra unary operators.

Every operator is an element-wise torch function (``fn``) with a gradient-safe local derivative (``grad``). Where
TensorFlow 2.8 (the reference implementation) and torch's defaults differ, the TensorFlow float32 definition is used
and written out explicitly here:

=================  ==========================================================================================
``swish``          ``x * sigmoid(x)`` (``tf.nn.swish``); torch's ``silu`` is ``x / (1 + exp(-x))``, rounded
                   differently.
``log_sigmoid``    ``-softplus(-x)`` (``tf.math.log_sigmoid``); torch computes ``min(x,0) - log1p(exp(-|x|))``.
``softplus``       TensorFlow's thresholded form: ``x`` if ``x > -log(eps) - 2``, ``exp(x)`` if
                   ``x < log(eps) + 2``, else ``log1p(exp(x))``, eps = float32 machine epsilon.
``elu``            ``x if x > 0 else expm1(x)``.
``selu``           ``scale * (x if x > 0 else alpha * expm1(x))`` with TF's float32 constants.
``hard_sigmoid``   Keras 2: ``clip(0.2 * x + 0.5, 0, 1)`` (torch's ``hardsigmoid`` uses slope 1/6).
``reciprocal``     ``1 / x``; ``square`` is ``x * x``; ``div`` is true division; ``pow`` is ``std::pow``.
``zero``, ``one``  ``zeros_like(x)`` / ``ones_like(x)``: constant even where ``x`` is NaN or infinite.
``max``, ``min``   NaN-propagating ``maximum`` / ``minimum``.
``leakyrelu``      ``tf.nn.leaky_relu`` default slope 0.2 (extra operator).
``gelu``           exact ``0.5 * x * (1 + erf(x / sqrt(2)))`` (``tf.nn.gelu`` default, extra operator).
``elish``          ``x * sigmoid(x)`` for ``x >= 0``, ``expm1(x) * sigmoid(x)`` otherwise (extra operator).
``mish``           ``x * tanh(softplus(x))`` (extra operator).
=================  ==========================================================================================

Gradients (``docs/space.md``, "Operator gradients"). ``grad(*args, out)`` returns the local partial derivatives
``d out / d args[i]``, written out so that no branch a ``where`` does not select is ever evaluated outside its domain:
``elu``/``selu`` use ``exp(min(x, 0))``, ``softplus`` is ``sigmoid(x)`` and ``log_sigmoid`` is ``sigmoid(-x)`` at any
``x`` (TensorFlow's gradients), ``tanh``, ``sigmoid``, ``swish``, ``gelu`` use forms that do not cancel. Conventions at
ties and kinks follow TensorFlow: ``max(a, b)`` sends the gradient to ``a`` where ``a >= b`` and ``min`` where
``a <= b``; ``relu'(0) = 0``, ``abs'(0) = sign(0) = 0``, ``elu'(0) = 1``, ``selu'(0) = scale``,
``leakyrelu'(0) = 0.2``, ``hard_sigmoid`` passes the gradient on the closed interval, ``bessel_i1e'(0) = 0.5``;
``d pow(a, b) / d b = 0`` where ``a <= 0``. The chain rule uses :func:`chain`, in which an exact zero factor wins
(``0 * inf = 0``): a saturated operator (``tanh(exp(x))`` at ``x = 100``, ``min(exp(x), 1)``) has gradient 0, not NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from act_bench.space import _fast
from act_bench.space._catalogue import CATALOGUE, OpKind, list_operators

__all__ = [
    "BINARY_OPS",
    "EXTRA_UNARY_OPS",
    "NARY_OPS",
    "UNARY_OPS",
    "OpKind",
    "Operator",
    "Partial",
    "chain",
    "get_operator",
    "list_operators",
]

_F32_EPS = float(torch.finfo(torch.float32).eps)
_SOFTPLUS_THRESHOLD = math.log(_F32_EPS) + 2.0  # TF: log(eps) + 2, about -13.94 for float32
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

#: A local partial derivative: a tensor, or a Python float for a constant one (``add``: 1, ``negative``: -1, ...).
Partial = torch.Tensor | float


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
        Element-wise torch implementation taking ``arity`` tensors (the forward values). Differentiate through
        :func:`~act_bench.space.evaluate` or :class:`~act_bench.space.ActivationFunction`, which use ``grad``:
        torch's autograd through ``fn`` itself is not gradient-safe (a ``where`` branch it does not select can
        still put NaN into the gradient).
    grad : callable
        ``grad(*args, out)`` -> tuple of local partial derivatives ``d out / d args[i]`` (a :data:`Partial` each),
        finite wherever ``out`` is finite and the derivative is representable. For an n-ary operator it is the
        ``grad`` of its binary step ``fold`` (n-ary operators are left folds of a binary operator).
    extra : bool
        True for the optional operators not in the paper's Table 3.
    fold : str or None
        For an n-ary operator, the binary operator it left-folds (``sum_n``: ``add``); else None.
    tangent : callable or None
        Optional forward-mode rule ``tangent(args, out, arg_tangents)`` equal to the sum of ``grad``'s partials
        times the argument tangents, for operators where a direct rule is cheaper (``max``/``min`` select).
    native_grad : bool
        True where torch's own autograd of ``fn`` computes exactly ``grad`` (``relu``, ``abs``, ``exp``, ...): an
        activation that is this one operator alone then runs under plain autograd, which is faster.
    """

    name: str
    kind: OpKind
    fn: Callable[..., torch.Tensor]
    grad: Callable[..., tuple[Partial, ...]]
    extra: bool = False
    fold: str | None = None
    tangent: Callable[[list[torch.Tensor], torch.Tensor, list[Partial]], Partial] | None = None
    native_grad: bool = False

    def accepts(self, n_args: int) -> bool:
        return self.kind.accepts(n_args)

    @property
    def arity_text(self) -> str:
        return self.kind.arity_text


def chain(a: Partial, b: torch.Tensor) -> torch.Tensor:
    """The chain-rule product ``a * b`` in which an exact zero factor wins: ``0 * inf = 0 * nan = 0``.

    ``a`` may be a Python float (a constant partial); ``b`` is a tensor. This is what makes a saturated branch
    contribute nothing: ``tanh(exp(x))`` at ``x = 100`` has ``tanh' = 0`` and ``exp' = inf``, and its derivative is 0.

    Examples
    --------
    >>> chain(torch.tensor([0.0, 2.0]), torch.tensor([float("inf"), 3.0]))
    tensor([0., 6.])
    """
    if isinstance(a, float):
        if a == 1.0:
            return b
        if a == -1.0:
            return -b
        if a == 0.0:
            return torch.zeros_like(b)
        return b * a
    prod = a * b
    # only a NaN product is replaced, so the product stays differentiable (higher-order derivatives) elsewhere
    return torch.where(torch.isnan(prod) & ((a == 0) | (b == 0)), 0.0, prod)


# --- forward formulas (values unchanged: they are part of the benchmark's definition) -----------------------------

_INT_OF = {torch.float32: torch.int32, torch.float64: torch.int64, torch.float16: torch.int16,
           torch.bfloat16: torch.int16}


def _where(cond: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.where(cond, a, b)`` with the same bits, as a bitwise select of same-shape tensors: torch's CPU ``where``
    is ~6x slower than the four integer kernels. Falls back to ``torch.where`` when autograd records, for
    broadcasting or for other dtypes."""
    it = _INT_OF.get(a.dtype)
    if (it is None or b.dtype != a.dtype or a.shape != b.shape or cond.shape != a.shape
            or (torch.is_grad_enabled() and (a.requires_grad or b.requires_grad))):
        return torch.where(cond, a, b)
    ai, bi = a.view(it), b.view(it)
    return torch.bitwise_xor(bi, torch.bitwise_and(torch.bitwise_xor(ai, bi), cond.to(it).neg_())).view(a.dtype)


def _softplus(x: torch.Tensor) -> torch.Tensor:
    # tf.math.softplus (Eigen scalar_softplus_op): thresholded to avoid overflow and keep precision.
    too_large = x > -_SOFTPLUS_THRESHOLD
    too_small = x < _SOFTPLUS_THRESHOLD
    safe = _where(too_large | too_small, torch.zeros_like(x), x)
    return _where(too_large, x, _where(too_small, torch.exp(x), _fast.log1p(torch.exp(safe))))


def _elu(x: torch.Tensor) -> torch.Tensor:
    return _where(x > 0, x, _fast.expm1(x))


def _selu(x: torch.Tensor) -> torch.Tensor:
    return _SELU_SCALE * _where(x > 0, x, _SELU_ALPHA * _fast.expm1(x))


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
    return _where(x >= 0, x * s, _fast.expm1(x) * s)


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.erf(x * (1.0 / math.sqrt(2.0))))


def _fold(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[..., torch.Tensor]:
    def nary(*args: torch.Tensor) -> torch.Tensor:
        out = args[0]
        for a in args[1:]:
            out = fn(out, a)
        return out

    return nary


# --- local derivatives: d out / d arg, never evaluating an unselected branch out of its domain -------------------

def _d_const(value: float) -> Callable[..., tuple[Partial, ...]]:
    def d(*args: torch.Tensor) -> tuple[Partial, ...]:
        return (value,) * (len(args) - 1)

    return d


def _pos(x: torch.Tensor) -> torch.Tensor:
    """1.0 where x > 0, else 0.0 (NaN at NaN). Masks are built from ``sign`` and ``clamp``, not comparisons and
    ``where``: torch's CPU ``where`` is ~30x slower than an arithmetic kernel, and every branch combined by a mask
    below is finite, so ``mask * branch`` is safe."""
    return torch.sign(x).clamp_(min=0.0)


def _neg(x: torch.Tensor) -> torch.Tensor:
    """1.0 where x < 0, else 0.0 (also at -0)."""
    return torch.sign(x).clamp_(max=0.0).neg_()


def _d_tanh(x, y):
    # 4e / (1 + e)^2 with e = exp(-2|x|) equals 1 / cosh(x)^2 and does not cancel where 1 - tanh^2 rounds to 0
    # (|x| > 9); torch's cosh is a slow kernel
    e = torch.exp(-2.0 * torch.abs(x))
    d = 1.0 + e
    return (4.0 * e / (d * d),)


def _d_sigmoid(x, y):
    return (y * torch.sigmoid(-x),)  # sigmoid(x) * sigmoid(-x): no cancellation in 1 - sigmoid(x)


def _d_arcsinh(x, y):
    return (1.0 / torch.hypot(x, torch.ones_like(x)),)  # 1 / sqrt(1 + x^2) without overflowing x^2


def _d_bessel_i0e(x, y):
    return (torch.special.i1e(x) - torch.sign(x) * y,)


def _d_bessel_i1e(x, y):
    # TF's formula: i0e(x) - y * (sign(x) + 1/x), and the limit 0.5 where |x| <= eps
    not_tiny = torch.abs(x) > _F32_EPS
    safe = torch.where(not_tiny, x, _F32_EPS)
    return (torch.where(not_tiny, _fast.i0e(safe) - y * (torch.sign(safe) + 1.0 / safe), 0.5),)


def _d_relu(x, y):
    return (_pos(x),)  # TF: relu'(0) = 0


def _d_elu(x, y):
    return (torch.exp(torch.clamp(x, max=0.0)),)  # 1 for x >= 0 (TF: elu'(0) = 1), exp(x) below


def _d_selu(x, y):
    # TF's SeluGrad selects on activations < 0, i.e. x < 0: selu'(0) = scale (elu'(0) = 1 either way)
    n = _neg(x)
    return (_SELU_SCALE * (_SELU_ALPHA * torch.exp(torch.clamp(x, max=0.0)) * n + (1.0 - n)),)


def _d_swish(x, y):
    s = torch.sigmoid(x)  # tf.nn.swish's gradient s * (1 + x * (1 - s)), with sigmoid(-x) for 1 - s
    return (s * (1.0 + x * torch.sigmoid(-x)),)


def _d_softsign(x, y):
    d = 1.0 + torch.abs(x)
    return (1.0 / (d * d),)


def _d_hard_sigmoid(x, y):
    t = 0.2 * x + 0.5  # the clip's input, as the forward rounds it; TF's clip passes the gradient on [0, 1]
    return (0.2 * (1.0 - _neg(t)) * (1.0 - _neg(1.0 - t)),)


def _d_elish(x, y):
    s, r = torch.sigmoid(x), torch.sigmoid(-x)
    neg = torch.clamp(x, max=0.0)
    n = _neg(x)  # both branches are finite everywhere, so the mask combines them
    return ((1.0 - n) * (s * (1.0 + x * r)) + n * (torch.exp(neg) * s + _fast.expm1(neg) * s * r),)


def _d_mish(x, y):
    sp = _softplus(x)
    c = _fast.cosh(sp)
    return (_fast.tanh(sp) + x * torch.sigmoid(x) / (c * c),)


def _d_gelu(x, y):
    # Phi(x) + x phi(x), with Phi(x) = erfc(-x / sqrt 2) / 2 (no cancellation for x << 0)
    return (0.5 * torch.erfc(x * (-1.0 / math.sqrt(2.0))) + x * torch.exp(-0.5 * x * x) * _INV_SQRT_2PI,)


def _d_div(a, b, y):
    return 1.0 / b, -(y / b)  # TF: d/db = (-a / b) / b, which does not overflow b * b


def _d_pow(a, b, y):
    # TF's gradients, with an exact-zero exponent winning (d/da pow(a, 0) = 0 also at a = 0) and d/db = 0 for a <= 0
    # b * a^(b-1) in float64: a^(b-1) alone overflows float32 for tiny a (pow(x, x) at x = 1e-42 has slope -95)
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    da = torch.where(b == 0, 0.0, (b64 * torch.pow(a64, b64 - 1.0)).to(a.dtype))
    positive = a > 0
    db = torch.where(positive, y * torch.log(torch.where(positive, a, 1.0)), 0.0)
    return da, db


def _select(first: torch.Tensor, ta: Partial, tb: Partial, like: torch.Tensor) -> Partial:
    if isinstance(ta, float) and isinstance(tb, float):
        return ta if ta == tb else torch.where(first, ta, tb).to(like.dtype)
    if isinstance(ta, torch.Tensor) and isinstance(tb, torch.Tensor):
        return _where(first, ta, tb)
    return torch.where(first, ta, tb)


def _d_max(a, b, y):
    first = a >= b  # TF: ties go to the first argument
    return first.to(a.dtype), (~first).to(a.dtype)


def _d_min(a, b, y):
    first = a <= b
    return first.to(a.dtype), (~first).to(a.dtype)


# implementations by catalogue name (act_bench.space._catalogue defines the names, kinds and the extra flag):
# (fn, grad, keyword arguments of Operator)
_IMPL: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., tuple[Partial, ...]], dict]] = {
    "zero": (torch.zeros_like, _d_const(0.0), {}),
    "one": (torch.ones_like, _d_const(0.0), {}),
    "identity": (lambda x: x, _d_const(1.0), {"native_grad": True}),
    "negative": (torch.neg, _d_const(-1.0), {"native_grad": True}),
    "abs": (torch.abs, lambda x, y: (torch.sign(x),), {"native_grad": True}),
    "reciprocal": (lambda x: 1.0 / x, lambda x, y: (-(y * y),), {}),
    "square": (lambda x: x * x, lambda x, y: (x + x,), {"native_grad": True}),
    "exp": (torch.exp, lambda x, y: (y,), {"native_grad": True}),
    "erf": (torch.erf, lambda x, y: (_TWO_OVER_SQRT_PI * torch.exp(-(x * x)),), {}),
    "erfc": (torch.erfc, lambda x, y: (-_TWO_OVER_SQRT_PI * torch.exp(-(x * x)),), {}),
    "sinh": (_fast.sinh, lambda x, y: (_fast.cosh(x),), {}),
    "cosh": (_fast.cosh, lambda x, y: (_fast.sinh(x),), {}),
    "tanh": (_fast.tanh, _d_tanh, {}),
    "expm1": (_fast.expm1, lambda x, y: (torch.exp(x),), {}),
    "sigmoid": (torch.sigmoid, _d_sigmoid, {}),
    "log_sigmoid": (_log_sigmoid, lambda x, y: (torch.sigmoid(-x),), {}),
    "arcsinh": (_fast.asinh, _d_arcsinh, {}),
    "arctan": (_fast.atan, lambda x, y: (1.0 / (1.0 + x * x),), {}),
    "bessel_i0e": (_fast.i0e, _d_bessel_i0e, {}),
    "bessel_i1e": (torch.special.i1e, _d_bessel_i1e, {}),
    "relu": (torch.relu, _d_relu, {"native_grad": True}),
    "elu": (_elu, _d_elu, {}),
    "selu": (_selu, _d_selu, {}),
    "swish": (_swish, _d_swish, {}),
    "softplus": (_softplus, lambda x, y: (torch.sigmoid(x),), {}),
    "softsign": (_softsign, _d_softsign, {}),
    "hard_sigmoid": (_hard_sigmoid, _d_hard_sigmoid, {}),
    "elish": (_elish, _d_elish, {}),
    "leakyrelu": (lambda x: _where(x > 0, x, 0.2 * x), lambda x, y: (0.2 + 0.8 * _pos(x),), {}),
    "mish": (lambda x: x * _fast.tanh(_softplus(x)), _d_mish, {}),
    "gelu": (_gelu, _d_gelu, {}),
    "add": (torch.add, _d_const(1.0), {}),
    "sub": (torch.sub, lambda a, b, y: (1.0, -1.0), {}),
    "mul": (torch.mul, lambda a, b, y: (b, a), {}),
    "div": (torch.div, _d_div, {}),
    "pow": (torch.pow, _d_pow, {}),
    "max": (torch.maximum, _d_max, {"tangent": lambda ab, y, t: _select(ab[0] >= ab[1], *t, y)}),
    "min": (torch.minimum, _d_min, {"tangent": lambda ab, y, t: _select(ab[0] <= ab[1], *t, y)}),
}


def _operator(name: str) -> Operator:
    spec = CATALOGUE[name]
    if spec.fold is not None:  # n-ary: a left fold of its binary step, with the step's derivatives
        fn, grad, kwargs = _IMPL[spec.fold]
        return Operator(name, spec.kind, _fold(fn), grad, extra=spec.extra, fold=spec.fold,
                        tangent=kwargs.get("tangent"))
    fn, grad, kwargs = _IMPL[name]
    return Operator(name, spec.kind, fn, grad, extra=spec.extra, **kwargs)


UNARY_OPS: dict[str, Operator] = {n: _operator(n) for n, s in CATALOGUE.items() if s.kind is OpKind.UNARY and not s.extra}
EXTRA_UNARY_OPS: dict[str, Operator] = {n: _operator(n) for n, s in CATALOGUE.items()
                                        if s.kind is OpKind.UNARY and s.extra}
BINARY_OPS: dict[str, Operator] = {n: _operator(n) for n, s in CATALOGUE.items() if s.kind is OpKind.BINARY}
NARY_OPS: dict[str, Operator] = {n: _operator(n) for n, s in CATALOGUE.items() if s.kind is OpKind.NARY}

_ALL: dict[str, Operator] = {**UNARY_OPS, **EXTRA_UNARY_OPS, **BINARY_OPS, **NARY_OPS}


def get_operator(name: str) -> Operator | None:
    """The :class:`Operator` called ``name``, or ``None`` if there is none."""
    return _ALL.get(name)
