"""Independent float64 reference for the gradients of activation expressions (tests and docs/scripts/gradient_audit.py).

References
----------
* Forward: the operator formulas as they were before this change, frozen verbatim in ``_frozen_forward.py``; the
  shipped table's ``outputs`` column (produced by the old code) is checked by ``test_shipped_table.py``.
* Gradients: a float64 forward-mode chain rule over the expression tree whose local partial derivatives come from
  ``torch.autograd`` on float64 reference formulas (torch built-ins such as ``F.elu``, ``F.softplus``, ``F.mish``,
  not our derivative formulas), evaluated at the float32 values of the nodes (computed with the frozen old forward).
  Using the float32 node values makes the reference the exact derivative *of the computation we perform*; comparing
  to the derivative at float64 node values would instead measure how ill-conditioned a composition's forward is
  (``pow(x, square(x))`` has no float32 digit in common with float64 at x = 10), which no gradient can fix.

Tolerance (``check``): ``|g32 - g64| <= E``, a first-order bound on the error of a float32 chain rule accumulated
over the tree. At each operator: the incoming tangents' errors times ``|partial|``, plus each partial's own error
times ``|incoming tangent|``, plus ``RTOL * |terms| + DENORMAL`` for the products and their sum. A float32 partial's
own error is ``RTOL * |partial| + DENORMAL * (1 + |x|)`` (binary operators: ``+ DENORMAL``):

* RTOL = 1e-4 (840 float32 ulps) covers a few ulps per formula and up to ``|x f''(x) / f'(x)|`` ulps where a
  partial varies fast (``exp``/``erf`` near their overflow or underflow ends: <= ~100 ulps); for ``bessel_i0e``/``i1e``
  it is relative to ``i0e(x)``, the size of the two terms their formula subtracts.
* DENORMAL = 1.2e-38 (float32's smallest normal): below it float32 has no relative precision and kernels flush to 0
  (``torch.sigmoid(-90.0)`` is 0, not 8.2e-40); a unary formula multiplies such a factor by at most ``|x|``
  (``swish'(x) = sigmoid(x) (1 + x sigmoid(-x))``).

The reference partials are accurate in the tails: ``tanh``, ``sigmoid``, ``expm1``, ``selu``, ``elish`` and ``gelu`` are
written so that float64 autograd does not cancel there (torch's ``tanh`` backward ``1 - y^2`` is 0 in float64 for
x > 19, while the float32 derivative ``1 / cosh(x)^2`` is 1.7e-17 at x = 20).

Finite output => finite gradient is asserted wherever every quantity a float32 chain rule forms (local partials,
forward tangents, reverse-mode adjoints, the error bound) is representable in float32: ``mul(x,reciprocal(x))`` at
x = 1e-38 has output 1 but ``d/dx 1/x = -1e76``, which no float32 computation can hold.
"""

from __future__ import annotations

import math

import _frozen_forward as old
import numpy as np
import torch
import torch.nn.functional as F

from act_bench.space import Expr

F32_MAX = float(np.finfo(np.float32).max)
RTOL = 1e-4  # per operator: 840 float32 ulps (module docstring)
# absolute error allowed in each float32 partial or tangent: below float32's normal range results have no relative
# precision and kernels may flush them to 0 (torch.sigmoid(-90.0) is 0, not 8.2e-40)
DENORMAL = float(np.finfo(np.float32).tiny)
D64 = torch.float64
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

# --- float64 reference partials (torch autograd on built-in formulas; TF conventions at ties and kinks) -----------


def _tanh_tails(x):
    # tanh through exp(-2|x|) on each side: its autograd derivative 4e / (1 + e)^2 keeps full relative precision in
    # the tails, where torch.tanh's backward 1 - tanh(x)^2 cancels to 0 in float64 (x > 19)
    xp, xn = torch.where(x >= 0, x, 0.0), torch.where(x < 0, x, 0.0)
    ep, en = torch.exp(-2.0 * xp), torch.exp(2.0 * xn)
    return torch.where(x >= 0, (1.0 - ep) / (1.0 + ep), (en - 1.0) / (en + 1.0))


def _sigmoid_tails(x):
    # as above: torch.sigmoid's backward y (1 - y) is 0 in float64 for x > 37
    xp, xn = torch.where(x >= 0, x, 0.0), torch.where(x < 0, x, 0.0)
    return torch.where(x >= 0, 1.0 / (1.0 + torch.exp(-xp)), torch.exp(xn) / (1.0 + torch.exp(xn)))


def _clamp_neg(x):
    return torch.clamp(x, max=0.0)


_REF_UNARY = {
    "zero": lambda x: x * 0.0,
    "one": lambda x: x * 0.0 + 1.0,
    "identity": lambda x: x,
    "negative": lambda x: -x,
    "abs": torch.abs,
    "reciprocal": torch.reciprocal,
    "square": lambda x: x ** 2,
    "exp": torch.exp,
    "erf": torch.erf,
    "erfc": torch.erfc,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "tanh": lambda x: _tanh_tails(x),
    "expm1": lambda x: torch.exp(x) - 1.0,
    "sigmoid": lambda x: _sigmoid_tails(x),
    "log_sigmoid": F.logsigmoid,
    "arcsinh": torch.asinh,
    "arctan": torch.atan,
    "bessel_i0e": torch.special.i0e,
    "bessel_i1e": torch.special.i1e,
    "relu": torch.relu,
    "elu": F.elu,
    # TF's SeluGrad selects the exponential side on activations < 0, so selu'(0) = scale (F.selu's is scale * alpha)
    # (exp(x) - 1, not expm1: torch's expm1 backward is y + 1, which cancels to 0 in float64 below x = -37)
    "selu": lambda x: torch.where(x < 0, _SELU_ALPHA * (torch.exp(_clamp_neg(x)) - 1.0), x) * _SELU_SCALE,
    "swish": F.silu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "elish": lambda x: torch.where(x >= 0, x * torch.sigmoid(x), (torch.exp(_clamp_neg(x)) - 1.0) * torch.sigmoid(x)),
    "leakyrelu": lambda x: F.leaky_relu(x, 0.2),
    "mish": F.mish,
    # 0.5 x erfc(-x / sqrt 2) = F.gelu, whose float64 backward 0.5 (1 + erf(x / sqrt 2)) cancels for x << 0
    "gelu": lambda x: 0.5 * x * torch.erfc(-x / math.sqrt(2.0)),
}


def _ref_pow(a, b):
    pos = a > 0
    # a > 0: exp(b log a) (both partials); a <= 0: torch.pow for d/da (it returns 0 for b == 0), d/db = 0 (TF)
    safe = torch.where(pos, a, 1.0)
    return torch.where(pos, torch.exp(b * torch.log(safe)), torch.pow(torch.where(pos, 1.0, a), b.detach()))


_REF_BINARY = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "pow": _ref_pow,
    "max": lambda a, b: torch.where(a >= b, a, b),  # TF: ties to the first argument
    "min": lambda a, b: torch.where(a <= b, a, b),
}
_STEP = {"sum_n": "add", "prod_n": "mul", "max_n": "max", "min_n": "min"}


def ref_partials(name: str, args32: list[torch.Tensor]) -> list[torch.Tensor]:
    """float64 partial derivatives of operator ``name`` at the (float32) argument values."""
    xs = [a.to(D64).requires_grad_(True) for a in args32]
    if name == "hard_sigmoid":
        # the clip's input as the float32 forward rounds it, then d/dx = 0.2 * clip'(t); TF's clip_by_value is
        # maximum(minimum(t, 1), 0), whose gradients pass ties to t (torch.clamp's backward is 0 at t == 1)
        t = (0.2 * args32[0] + 0.5).to(D64).requires_grad_(True)
        (g,) = torch.autograd.grad(torch.where(t > 1, 1.0, torch.where(t < 0, 0.0, t)).sum(), t)
        return [0.2 * g]
    fn = _REF_UNARY.get(name) or _REF_BINARY[name]
    grads = torch.autograd.grad(fn(*xs).sum(), xs, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(xs, grads)]


def _term_scale(name: str, args32: list[torch.Tensor], partials: list[torch.Tensor]) -> list[torch.Tensor]:
    """Magnitude of the terms of a local derivative before cancellation (used for the tolerance only)."""
    if name in ("bessel_i0e", "bessel_i1e"):
        return [partials[0].abs() + torch.special.i0e(args32[0].to(D64))]
    return [p.abs() for p in partials]


def _strong(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where((a == 0) | (b == 0), 0.0, a * b)


def _old_op(name: str):
    return old.get_operator(name)


class Ref:
    """Reference results of one expression at float32 inputs."""

    def __init__(self, y32, g64, m, t, k):
        self.y32, self.g64, self.m, self.t, self.k = y32, g64, m, t, k


def reference(expr: Expr, x32: torch.Tensor) -> Ref:
    """Reference derivative of ``expr`` at ``x32`` (module docstring).

    ``y32``: value by the frozen old forward; ``g64``: float64 chain rule; ``m``: first-order bound on the error of
    a float32 chain rule (the tolerance); ``t``: magnitude of the incoming tangents (diagnostic); ``k``: the largest magnitude of any quantity a float32 chain rule forms
    (local partials, forward tangents and their terms, reverse-mode adjoints): where ``k`` exceeds float32's range, a
    float32 gradient may legitimately overflow (``mul(x,reciprocal(x))`` at x = 1e-38: ``d/dx 1/x = -1e76``).
    """
    occurrences = []  # (partials, children) per operator application, for the reverse pass

    def rec(node: Expr):
        if node.is_input:
            one = torch.ones_like(x32, dtype=D64)
            return x32, one, torch.zeros_like(one), torch.zeros_like(one), None
        kids = [rec(a) for a in node.args]
        if node.op in _STEP:
            acc = kids[0]
            for kid in kids[1:]:
                acc = combine(_STEP[node.op], [acc, kid])
            return acc
        return combine(node.op, kids)

    def combine(name, kids):
        vals = [kid[0] for kid in kids]
        out = _old_op(name).fn(*vals)
        partials = ref_partials(name, vals)
        scales = _term_scale(name, vals, partials)
        terms = [_strong(p, kid[1]) for p, kid in zip(partials, kids)]
        g = sum(terms)
        # first-order bound on the float32 error: the error of each incoming tangent times |partial|, plus each
        # partial's own error (RTOL relative to its term scale, DENORMAL absolute) times |incoming tangent|
        floor = DENORMAL * (1.0 + vals[0].to(D64).abs()) if len(vals) == 1 else DENORMAL
        m = sum(_strong(p.abs(), kid[2]) + _strong(RTOL * sc + floor, kid[1].abs())
                for p, sc, kid in zip(partials, scales, kids)) + RTOL * sum(t.abs() for t in terms) + DENORMAL
        t = sum(kid[1].abs() for kid in kids)
        record = (partials, [kid[4] for kid in kids], terms, g)
        occurrences.append(record)
        return out, g, m, t, record

    y32, g64, m, t, root = rec(expr)
    k = torch.zeros_like(g64)

    def down(record, adj):  # reverse mode: adjoint of each operator application, root first
        nonlocal k
        partials, children, terms, g = record
        k = torch.maximum(k, torch.maximum(adj.abs(), g.abs()))
        for p, term, child in zip(partials, terms, children):
            k = torch.maximum(k, torch.maximum(p.abs(), term.abs()))
            if child is not None:
                down(child, _strong(adj, p))
            else:
                k = torch.maximum(k, _strong(adj, p).abs())

    if root is not None:
        down(root, torch.ones_like(g64))
    return Ref(y32, g64, m, t, torch.maximum(k, m))


def check(expr: Expr, x32: torch.Tensor, g32: torch.Tensor, what: str, *, ref: Ref | None = None) -> None:
    ref = ref if ref is not None else reference(expr, x32)
    y_finite = torch.isfinite(ref.y32)
    representable = torch.isfinite(ref.g64) & torch.isfinite(ref.k) & (ref.k <= F32_MAX)
    bad = y_finite & representable & ~torch.isfinite(g32)
    assert not bad.any(), f"{what} {expr}: non-finite gradient {g32[bad][:3].tolist()} at x={x32[bad][:3].tolist()}"
    both = y_finite & representable & torch.isfinite(g32)
    err = (g32.to(D64) - ref.g64).abs()
    tol = ref.m
    wrong = both & (err > tol)
    assert not wrong.any(), (f"{what} {expr}: gradient {g32[wrong][:3].tolist()} != reference "
                             f"{ref.g64[wrong][:3].tolist()} at x={x32[wrong][:3].tolist()}")
