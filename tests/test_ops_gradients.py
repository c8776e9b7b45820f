"""Gradient-safe operators (issue 12): forward values unchanged, gradients finite and correct.

The forward reference is the frozen copy of the old operators (``_frozen_forward.py``); the gradient reference and its
tolerance are described in ``_gradient_reference.py``.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import _frozen_forward as old
import pytest
import torch
from _gradient_reference import D64, F32_MAX, reference
from _gradient_reference import check as _check
from _gradient_reference import ref_partials as _ref_partials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from act_bench.errors import InvalidInputError
from act_bench.space import (
    PAPER_THREE_NODE_SCHEMA,
    ActivationFunction,
    BackwardMode,
    Expr,
    enumerate_schema,
    evaluate,
    evaluate_many,
    list_operators,
    standard_inputs,
    value_and_derivative,
)
from act_bench.space import get_operator as new_operator


def _plain_grad(expr, x32):
    x = x32.clone().requires_grad_(True)
    y = evaluate(expr, x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), g


def _module_grad(expr, x32, mode):
    x = x32.clone().requires_grad_(True)
    y = ActivationFunction(expr, backward=mode)(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), g


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool((a.view(torch.int32) == b.view(torch.int32)).all())


def _same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, NaN == NaN and -0 == 0 (the sign of a zero gradient carries no meaning)."""
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


def _all_paths(expr: Expr, x32: torch.Tensor) -> None:
    """Every gradient path: same forward bits as the old code, finite and correct gradients, fused == plain."""
    ref = reference(expr, x32)
    with torch.no_grad():
        y_nograd = evaluate(expr, x32)
    assert _same_bits(y_nograd, ref.y32), f"forward changed for {expr}"
    y_plain, g_plain = _plain_grad(expr, x32)
    y_vd, g_vd = value_and_derivative(expr, x32)
    assert _same_bits(y_plain, ref.y32) and _same_bits(y_vd, ref.y32)
    _check(expr, x32, g_plain, "autograd", ref=ref)
    _check(expr, x32, g_vd, "forward-mode", ref=ref)
    for mode in (BackwardMode.FUSED, BackwardMode.RECOMPUTE):
        y_m, g_m = _module_grad(expr, x32, mode)
        assert _same_bits(y_m, ref.y32)
        assert _same_values(g_m, g_vd), f"{mode.value} backward differs from value_and_derivative for {expr}"
    # fused (forward mode) and plain (reverse mode) differ only in the order of the chain-rule roundings
    y_finite = torch.isfinite(ref.y32) & (ref.k <= F32_MAX)  # where float32 can represent the chain rule
    fin = torch.isfinite(g_plain) & torch.isfinite(g_vd) & y_finite
    assert torch.equal(torch.isfinite(g_plain)[y_finite], torch.isfinite(g_vd)[y_finite]), f"finiteness: {expr}"
    assert bool(((g_plain - g_vd).abs().to(D64)[fin] <= ref.m[fin] + 1e-30).all()), str(expr)


# --- inputs ---------------------------------------------------------------------------------------------------------

_EDGES = [0.0, -0.0, 1e-45, -1e-45, 1e-38, -1e-38, 1e-30, -1e-30, 1e-7, -1e-7, 1.0, -1.0, 2.5, -2.5, 13.94, -13.94,
          15.942385, -15.942385, 88.7, -88.7, 88.72284, -88.72284, 89.41599, -89.41599, 103.0, -103.0, 103.97208,
          -103.97208, 1e4, -1e4]
_FLOATS = st.one_of(st.floats(-1e4, 1e4, width=32), st.sampled_from(_EDGES),
                    st.floats(-2.0 ** -10, 2.0 ** -10, width=32))
_BATCH = st.lists(_FLOATS, min_size=1, max_size=48).map(lambda v: torch.tensor(v, dtype=torch.float32))

_UNARY = list_operators("unary")
_BINARY = list_operators("binary")
_NARY = list_operators("n-ary")
X = Expr("x")


def _wide_inputs() -> torch.Tensor:
    lin = torch.linspace(-1e4, 1e4, 2001, dtype=torch.float32)
    return torch.cat([lin, torch.tensor(_EDGES), torch.from_numpy(standard_inputs().copy())])


# --- forward values: bit-identical to the old code ---------------------------------------------------------------

def test_three_node_space_forward_is_bit_identical_to_the_old_operators():
    exprs = list(enumerate_schema(PAPER_THREE_NODE_SCHEMA))
    assert len(exprs) == 5103
    x = torch.from_numpy(standard_inputs().copy())
    new = evaluate_many(exprs)
    for i, e in enumerate(exprs):
        a, b = (old.get_operator(c.op).fn(x) for c in e.args)
        ref = old.get_operator(e.op).fn(a, b).numpy()
        assert new[i].tobytes() == ref.tobytes(), str(e)
    # the autograd paths produce the same bits as the no-grad evaluation, on a sample of the space
    for e in exprs[::17]:
        y_plain, _ = _plain_grad(e, x)
        y_fused, _ = _module_grad(e, x, BackwardMode.FUSED)
        row = new[exprs.index(e)]
        assert y_plain.numpy().tobytes() == row.tobytes() == y_fused.numpy().tobytes(), str(e)


# --- property tests per operator ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list_operators("unary"))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=_BATCH)
def test_unary_operator_gradient(name, x):
    _all_paths(Expr(name, (X,)), x)


@pytest.mark.parametrize("name", _BINARY)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=_BATCH, b=_BATCH)
def test_binary_operator_partials(name, a, b):
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    op = new_operator(name)
    y = op.fn(a, b)
    assert _same_bits(y, old.get_operator(name).fn(a, b))
    mine = op.grad(a, b, y)
    ref = _ref_partials(name, [a, b])
    for k, (p, r) in enumerate(zip(mine, ref)):
        p = torch.full_like(a, p) if isinstance(p, float) else p
        representable = torch.isfinite(r) & (r.abs() <= F32_MAX)
        bad = torch.isfinite(y) & representable & ~torch.isfinite(p)
        assert not bad.any(), f"{name} d/darg{k}: {p[bad][:3].tolist()} at a={a[bad][:3].tolist()}"
        ok = torch.isfinite(y) & representable
        assert bool(((p.to(D64) - r).abs()[ok] <= 1e-4 * r.abs()[ok] + 1e-37).all()), (name, k)


@pytest.mark.parametrize("name", _BINARY)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=_BATCH, f=st.sampled_from(_UNARY), g=st.sampled_from(_UNARY))
def test_binary_operator_over_unary_branches(name, x, f, g):
    _all_paths(Expr(name, (Expr(f, (X,)), Expr(g, (X,)))), x)


@pytest.mark.parametrize("name", _NARY)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=_BATCH, fs=st.lists(st.sampled_from(_UNARY + ["x"]), min_size=2, max_size=4))
def test_nary_operator_gradient(name, x, fs):
    args = tuple(X if f == "x" else Expr(f, (X,)) for f in fs)
    _all_paths(Expr(name, args), x)


def _trees(depth: int):
    leaf = st.just(X)
    if depth == 0:
        return leaf
    sub = _trees(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda o, a: Expr(o, (a,)), st.sampled_from(_UNARY), sub),
        st.builds(lambda o, a, b: Expr(o, (a, b)), st.sampled_from(_BINARY), sub, sub),
        st.builds(lambda o, a: Expr(o, tuple(a)), st.sampled_from(_NARY), st.lists(sub, min_size=2, max_size=3)),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e=_trees(4), x=_BATCH)
def test_random_compositions(e, x):
    _all_paths(e, x)


# --- whole three-node space on wide inputs -------------------------------------------------------------------------

def test_three_node_space_gradients_finite_and_correct_on_wide_inputs():
    """Every graph of binary(unary(x),unary(x)): finite output => finite gradient wherever the exact derivative is
    representable, and equal to the float64 reference (fused path, the one models use)."""
    x = _wide_inputs()
    for e in enumerate_schema(PAPER_THREE_NODE_SCHEMA):
        _, g = value_and_derivative(e, x)
        _check(e, x, g, "fused")


# --- conventions at ties and kinks (TF) -----------------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "x", "expected"), [
    ("relu(x)", 0.0, 0.0),
    ("abs(x)", 0.0, 0.0),
    ("abs(x)", -0.0, 0.0),
    ("elu(x)", 0.0, 1.0),
    ("selu(x)", 0.0, 1.0507009873554805),  # TF's SeluGrad: activations < 0 selects the exponential side
    ("selu(x)", -0.0, 1.0507009873554805),
    ("selu(x)", -1e-30, 1.0507009873554805 * 1.6732632423543772),
    ("leakyrelu(x)", 0.0, 0.2),
    ("hard_sigmoid(x)", 2.5, 0.2),
    ("hard_sigmoid(x)", -2.5, 0.2),
    ("hard_sigmoid(x)", 3.0, 0.0),
    ("bessel_i1e(x)", 0.0, 0.5),
    ("max(x,negative(x))", 0.0, 1.0),  # tie: the first argument's derivative (+1)
    ("min(x,negative(x))", 0.0, 1.0),
    ("max(negative(x),x)", 0.0, -1.0),
    ("max_n(negative(x),x,abs(x))", 0.0, -1.0),  # left fold: ties go left
    ("pow(x,zero(x))", 0.0, 0.0),  # d/da a^0 = 0 also at a = 0 (TF: 0 * inf = NaN)
    ("pow(x,one(x))", 0.0, 1.0),
    ("pow(x,square(x))", -2.0, -32.0),  # a < 0: d/db taken as 0 (TF), d/da = b a^(b-1) = 4 * -8
    ("elu(x)", 100.0, 1.0),
    ("elu(x)", 1e4, 1.0),
    ("selu(x)", 1e4, 1.0507009873554805),
    ("softplus(x)", 1e4, 1.0),
    ("softplus(x)", -1e4, 0.0),
    ("log_sigmoid(x)", -1e4, 1.0),
    ("tanh(exp(x))", 100.0, 0.0),
    ("min(exp(x),one(x))", 100.0, 0.0),
    ("div(one(x),exp(x))", 100.0, 0.0),
])
def test_tie_and_kink_conventions(expr, x, expected):
    xt = torch.tensor([x])
    for mode in BackwardMode:
        _, g = _module_grad(expr, xt, mode)
        assert float(g[0]) == pytest.approx(expected, rel=1e-6), (expr, mode)


def test_issue_examples_elu_at_100_and_selu_plus_square():
    x = torch.tensor([100.0, -100.0, 1e4], requires_grad=True)
    ActivationFunction("elu(x)")(x).sum().backward()
    assert x.grad.tolist() == [1.0, pytest.approx(math.exp(-100), rel=1e-5, abs=1e-45), 1.0]
    _, g = _module_grad("add(selu(x),square(x))", torch.tensor([200.0]), BackwardMode.FUSED)
    assert g.tolist() == [pytest.approx(400 + 1.0507009873554805, rel=1e-6)]


# --- modes -----------------------------------------------------------------------------------------------------------

def test_autograd_mode_supports_second_derivatives_and_fused_refuses_them():
    x = torch.linspace(-3, 3, 13, dtype=D64, requires_grad=True)
    y = ActivationFunction("mul(x,sinh(x))", backward="autograd")(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    xd = x.detach()
    torch.testing.assert_close(g.detach(), torch.sinh(xd) + xd * torch.cosh(xd))
    torch.testing.assert_close(h, 2 * torch.cosh(xd) + xd * torch.sinh(xd))
    y = ActivationFunction("mul(x,sinh(x))")(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):  # first-order only: an error, never a silently wrong second derivative
        torch.autograd.grad(g.sum(), x)


def test_gradcheck_float64_all_modes():
    x = torch.linspace(-2.9, 3.1, 11, dtype=D64, requires_grad=True)
    for mode in BackwardMode:
        for f in ("sub(softplus(x),selu(x))", "max_n(tanh(x),swish(x),mish(x))", "pow(sigmoid(x),erfc(x))"):
            act = ActivationFunction(f, backward=mode)
            assert torch.autograd.gradcheck(act, (x,)), (f, mode)


def test_torch_func_grad_through_the_fused_and_plain_paths():
    x = torch.tensor([-100.0, -1.0, 0.5, 100.0])
    for mode in BackwardMode:
        act = ActivationFunction("elu(x)", backward=mode)
        g = torch.func.vmap(torch.func.grad(lambda t, act=act: act(t)))(x)
        assert g.tolist() == [pytest.approx(math.exp(-100), abs=1e-45), pytest.approx(math.exp(-1)), 1.0, 1.0]


def test_backward_mode_validation_and_repr():
    with pytest.raises(InvalidInputError, match="parameter backward of ActivationFunction must be one of"):
        ActivationFunction("relu(x)", backward="fast")
    assert "recompute" in repr(ActivationFunction("relu(x)", backward="recompute"))
    assert "backward" not in repr(ActivationFunction("relu(x)"))


# --- the audit figure in docs/space.md -------------------------------------------------------------------------------

def test_gradient_audit_block_in_docs_is_current():
    """docs/space.md's gradient-audit table is what docs/scripts/gradient_audit.py computes now (about 12 s CPU)."""
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("gradient_audit", root / "docs/scripts/gradient_audit.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gradient_audit"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    n_graphs, n_plain, n_all, counts = mod.audit()
    text = (root / "docs" / "space.md").read_text(encoding="utf-8")
    assert mod.render(n_graphs, n_plain, n_all, counts) in text, \
        "docs/space.md gradient-audit block is stale: run python docs/scripts/gradient_audit.py"
    after = {c.path: c for c in counts if c.batch == "edges"}
    assert all(not c.defect for path, c in after.items() if path != "old")  # the acceptance figure: no defects


@pytest.mark.parametrize("name", [n for n in list_operators("unary") if new_operator(n).native_grad])
def test_native_autograd_shortcut_computes_our_derivative(name):
    """A one-operator activation flagged native_grad runs under torch's autograd: same gradient as our formula."""
    x = torch.cat([_wide_inputs(), torch.tensor([float("inf"), -float("inf")])])
    _, g_native = _module_grad(f"{name}(x)", x, BackwardMode.FUSED)
    _, g_ours = value_and_derivative(f"{name}(x)", x)
    assert _same_values(g_native, g_ours), name
