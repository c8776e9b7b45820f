"""Evaluating expressions: standard inputs, ``function_outputs``, the torch module, Gaussian moments.

Three ways to differentiate an expression, all with the same gradient-safe local derivatives (``Operator.grad``) and
the same forward values (every value is computed by the operators' ``fn``, exactly as without gradients):

* ``evaluate`` with an input that requires grad: one ``torch.autograd.Function`` per operator node; supports
  higher-order derivatives (its backward is made of differentiable torch operations).
* :func:`value_and_derivative`: forward-mode chain rule through the tree, giving ``f(x)`` and ``f'(x)`` at once.
* ``ActivationFunction(..., backward="fused")`` (the default): one ``torch.autograd.Function`` per activation whose
  forward computes ``f(x)`` and ``f'(x)`` without recording a graph and whose backward is ``grad * f'(x)``
  (first-order only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from act_bench._validation import check_choice
from act_bench.errors import InvalidInputError
from act_bench.space._expr import Expr, parse
from act_bench.space._fast import exact_kernels
from act_bench.space._ops import Operator, OpKind, Partial, chain, get_operator

__all__ = [
    "STANDARD_INPUT_SPEC",
    "ActivationFunction",
    "BackwardMode",
    "as_expr",
    "evaluate",
    "function_outputs",
    "gaussian_moments",
    "standard_inputs",
    "value_and_derivative",
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
    """Apply ``expr`` element-wise to tensor ``x`` (any shape, any floating dtype); shared subtrees computed once.

    If gradients are enabled and ``x`` requires grad, every operator node is one ``torch.autograd.Function`` with the
    gradient-safe derivative of ``docs/space.md`` ("Operator gradients"); its backward is differentiable, so
    higher-order derivatives work. The values are the same bits either way.

    Examples
    --------
    >>> x = torch.tensor([100.0, -1.0], requires_grad=True)
    >>> evaluate("elu(x)", x).sum().backward()
    >>> x.grad
    tensor([1.0000, 0.3679])
    """
    expr = as_expr(expr)
    tracked = torch.is_grad_enabled() and x.requires_grad
    cache: dict[Expr, torch.Tensor] = {}

    def apply(op: Operator, args: list[torch.Tensor]) -> torch.Tensor:
        if not tracked:
            return op.fn(*args)
        return _OpFunction.apply(op.name, *args)

    def rec(node: Expr) -> torch.Tensor:
        if node.is_input:
            return x
        hit = cache.get(node)
        if hit is not None:
            return hit
        op = get_operator(node.op)
        args = [rec(a) for a in node.args]
        if op.kind is OpKind.NARY and tracked:
            step = get_operator(op.fold)  # the same left fold as op.fn, one node per step
            out = args[0]
            for a in args[1:]:
                out = apply(step, [out, a])
        else:
            out = apply(op, args)
        cache[node] = out
        return out

    return rec(expr)


class _OpFunction(torch.autograd.Function):
    """One operator node: forward ``op.fn``, backward ``chain(grad, op.grad(...))`` (differentiable)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(name: str, *args: torch.Tensor) -> torch.Tensor:
        out = get_operator(name).fn(*args)
        return out.view_as(out) if any(out is a for a in args) else out  # identity: a new tensor for autograd

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.op = get_operator(inputs[0])
        ctx.save_for_backward(*inputs[1:], output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        *args, out = ctx.saved_tensors
        partials = ctx.op.grad(*args, out)
        grads: list[torch.Tensor | None] = [None]
        for a, p, needed in zip(args, partials, ctx.needs_input_grad[1:]):
            if not needed:
                grads.append(None)
                continue
            g = chain(p, grad)
            grads.append(g if g.shape == a.shape else g.sum_to_size(a.shape))
        return tuple(grads)


@dataclass(frozen=True)
class _Step:
    """One operator application of a compiled expression; ``args`` are slots (0 is ``x``, i is step i - 1's output)."""

    op: Operator
    args: tuple[int, ...]


@lru_cache(maxsize=4096)
def _plan(expr: Expr) -> tuple[_Step, ...]:
    """The expression as a straight-line program: shared subtrees once, n-ary nodes as left folds of binary steps."""
    steps: list[_Step] = []
    slots: dict[Expr, int] = {}

    def rec(node: Expr) -> int:
        if node.is_input:
            return 0
        hit = slots.get(node)
        if hit is not None:
            return hit
        op = get_operator(node.op)
        args = [rec(a) for a in node.args]
        if op.kind is OpKind.NARY:
            fold = get_operator(op.fold)  # the same left fold as op.fn
            acc = args[0]
            for a in args[1:]:
                steps.append(_Step(fold, (acc, a)))
                acc = len(steps)
        else:
            steps.append(_Step(op, tuple(args)))
            acc = len(steps)
        slots[node] = acc
        return acc

    rec(expr)
    return tuple(steps)


def _times(p: Partial, t: Partial) -> Partial:
    """Forward-mode chain-rule product: floats stay floats; a NaN product (``0 * inf``) is 0."""
    if isinstance(t, float):
        return p * t if isinstance(p, float) else chain(t, p)
    if isinstance(p, float):
        return chain(p, t)
    return torch.mul(p, t).nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)


def _run_forward_mode(plan: tuple[_Step, ...], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    vals: list[torch.Tensor] = [x]
    tans: list[Partial] = [1.0]
    for step in plan:
        args = [vals[i] for i in step.args]
        out = step.op.fn(*args)
        arg_tans = [tans[i] for i in step.args]
        if step.op.tangent is not None:
            tan = step.op.tangent(args, out, arg_tans)
        else:
            tan = None
            for p, t in zip(step.op.grad(*args, out), arg_tans):
                term = _times(p, t)
                tan = term if tan is None else tan + term
        vals.append(out)
        tans.append(tan)
    y, d = vals[-1], tans[-1]
    if isinstance(d, float):
        d = torch.full_like(y, d)
    return y, d


def value_and_derivative(expr: Expr | str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(f(x), f'(x))`` element-wise, by the forward-mode chain rule through the expression tree; no graph recorded.

    ``f(x)`` has the same bits as :func:`evaluate`; ``f'(x)`` uses the gradient-safe local derivatives
    (``docs/space.md``, "Operator gradients"): it is finite wherever ``f(x)`` is finite and the derivative is
    representable, and agrees with autograd through :func:`evaluate` to float rounding.

    Examples
    --------
    >>> y, d = value_and_derivative("sub(softplus(x),selu(x))", torch.tensor([-2.0, 0.5, 100.0]))
    >>> d
    tensor([-0.1187, -0.4282, -0.0507])
    """
    with torch.no_grad():
        return _run_forward_mode(_plan(as_expr(expr)), x)


def function_outputs(expr: Expr | str) -> np.ndarray:
    """Outputs of ``expr`` on the standard inputs: float32 numpy array of shape (1000,).

    Examples
    --------
    >>> y = function_outputs("relu(x)")
    >>> y.shape, y.dtype, bool((y >= 0).all())
    ((1000,), dtype('float32'), True)
    """
    x = torch.from_numpy(standard_inputs().copy())
    with torch.no_grad(), exact_kernels():  # the definition of the function: torch's kernels, always
        return evaluate(expr, x).numpy().astype(np.float32, copy=False)


@lru_cache(maxsize=4096)
def _moments(canonical: str) -> tuple[float, float]:
    expr = parse(canonical)
    # Expectation under N(0, 1) by the trapezoid rule on a fine grid (robust for kinks such as relu).
    z = torch.linspace(-10.0, 10.0, 40001, dtype=torch.float64)
    w = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    with torch.no_grad(), exact_kernels():
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


class BackwardMode(str, Enum):
    """How :class:`ActivationFunction` differentiates its expression (same values and derivative formulas)."""

    #: One autograd node per activation; forward computes f and f' and keeps f' for the backward (the fastest).
    FUSED = "fused"
    #: As FUSED, but keeps only the input and recomputes f' in the backward (less memory, a second forward).
    RECOMPUTE = "recompute"
    #: One autograd node per operator (:func:`evaluate`); supports higher-order derivatives.
    AUTOGRAD = "autograd"


class _FusedActivation(torch.autograd.Function):
    """``f(x)`` with backward ``grad * f'(x)``; ``f'`` from :func:`value_and_derivative`. First-order only."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, plan: tuple[_Step, ...], recompute: bool) -> tuple[torch.Tensor, torch.Tensor]:
        y, d = _run_forward_mode(plan, x)
        y = y.clone() if y is x else y
        return y, (d.clone() if d is y else d)  # exp(x): f' is f itself; autograd needs two tensors

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, plan, recompute = inputs
        ctx.plan, ctx.recompute = plan, recompute
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(x if recompute else output[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor, _grad_d: torch.Tensor | None):
        (saved,) = ctx.saved_tensors
        d = _run_forward_mode(ctx.plan, saved)[1] if ctx.recompute else saved
        return grad * d, None, None


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
    backward : {"fused", "recompute", "autograd"} or BackwardMode, default "fused"
        How gradients are formed (:class:`BackwardMode`). The values are identical in every mode and so are the
        derivative formulas (``docs/space.md``, "Operator gradients"); "fused" and "recompute" build one autograd
        node for the whole expression and allow first-order gradients only, "autograd" one node per operator and
        allows higher-order gradients. Without gradients (``torch.no_grad()`` or an input that does not require
        grad) every mode is a plain evaluation.

    Examples
    --------
    >>> act = ActivationFunction("swish(x)")
    >>> act(torch.zeros(2, 3)).shape
    torch.Size([2, 3])
    >>> x = torch.tensor([100.0], requires_grad=True)
    >>> ActivationFunction("elu(x)")(x).sum().backward()
    >>> x.grad
    tensor([1.])
    """

    def __init__(self, expr: Expr | str, *, normalize: bool = False,
                 backward: BackwardMode | str = BackwardMode.FUSED) -> None:
        super().__init__()
        self.expr = as_expr(expr)
        self.normalize = bool(normalize)
        self.backward_mode = BackwardMode(check_choice(backward, "backward", "ActivationFunction",
                                                       [m.value for m in BackwardMode]))
        self.shift, self.scale = 0.0, 1.0
        if self.normalize:
            mean, second = gaussian_moments(self.expr)
            var = second - mean * mean
            if not (math.isfinite(mean) and math.isfinite(var)) or var <= 0:
                raise InvalidInputError(f"cannot normalize {str(self.expr)!r}: its mean/variance under N(0,1) is "
                                        f"not finite and positive (mean={mean}, variance={var})")
            self.shift, self.scale = mean, 1.0 / math.sqrt(var)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plan = _plan(self.expr)
        if not (torch.is_grad_enabled() and x.requires_grad):
            y = evaluate(self.expr, x)
        elif len(plan) == 1 and plan[0].op.native_grad and self.backward_mode is not BackwardMode.AUTOGRAD:
            y = plan[0].op.fn(x)  # relu(x), exp(x), ...: torch's autograd is the same derivative, and faster
        elif self.backward_mode is BackwardMode.AUTOGRAD:
            y = evaluate(self.expr, x)
        else:
            y = _FusedActivation.apply(x, plan, self.backward_mode is BackwardMode.RECOMPUTE)[0]
        if self.normalize:
            y = (y - self.shift) * self.scale
        return y

    def extra_repr(self) -> str:
        mode = "" if self.backward_mode is BackwardMode.FUSED else f", backward={self.backward_mode.value!r}"
        return f"{str(self.expr)!r}" + (", normalize=True" if self.normalize else "") + mode
