"""The fast CPU kernels of training (``act_bench.space._fast``): accuracy against float64, special values, scope.

The reference is torch's float64 kernel of the same function (Cephes/glibc double precision), rounded to the
float32 grid: errors are counted in float32 ulps of the exact value.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from act_bench.space import (
    UNARY_OPS,
    ActivationFunction,
    _fast,
    exact_kernels,
    fast_kernels,
    function_outputs,
    gaussian_moments,
    value_and_derivative,
)
from act_bench.space._evaluate import _moments
from act_bench.space._make_fast import coefficients

#: kernel -> (torch float64 reference, bound in float32 ulps). NumPy documents <= 4 ulp for its SIMD (SVML)
#: float32 kernels; the i0e polynomial is fitted to <= 1 ulp and loses a few more to float32 rounding in Horner's
#: rule (torch's own float32 i0e is off by up to 6 ulp on the same grid).
KERNELS = {
    "expm1": (torch.expm1, 4.0),
    "log1p": (torch.log1p, 4.0),
    "asinh": (torch.asinh, 4.0),
    "sinh": (torch.sinh, 4.0),
    "cosh": (torch.cosh, 4.0),
    "tanh": (torch.tanh, 4.0),
    "atan": (torch.atan, 4.0),
    "i0e": (torch.special.i0e, 6.0),
}

SPECIAL = [0.0, -0.0, 1e-45, -1e-45, 1e-38, -1e-38, 1.0, -1.0, 8.0, -8.0, 8.000001, 88.72, -88.72, 89.41, 89.42,
           -89.42, 103.0, -103.0, 3e38, -3e38, np.inf, -np.inf, np.nan]


def _grid() -> torch.Tensor:
    g = np.concatenate([np.linspace(-12, 12, 60001), np.geomspace(1e-30, 1e5, 30001),
                        -np.geomspace(1e-30, 1e5, 30001), np.linspace(-110, 110, 8001), SPECIAL])
    return torch.from_numpy(g.astype(np.float32))


def _ulps(got: torch.Tensor, exact64: torch.Tensor) -> torch.Tensor:
    spacing = torch.from_numpy(np.spacing(np.abs(exact64.float().numpy()))).double()
    return (got.double() - exact64).abs() / spacing


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_fast_kernel_is_within_its_ulp_bound_of_float64_and_agrees_on_special_values(name):
    reference, bound = KERNELS[name]
    x = _grid()
    with fast_kernels():
        got = getattr(_fast, name)(x)
    exact = reference(x.double())
    torch_f32 = reference(x)
    assert got.dtype == torch.float32 and got.shape == x.shape
    finite = torch.isfinite(exact.float())
    assert _ulps(got, exact)[finite].max().item() <= bound
    # infinities and NaNs exactly where torch's float32 kernel has them; exact zeros with their sign
    assert torch.equal(torch.isnan(got), torch.isnan(torch_f32))
    assert torch.equal(torch.isinf(got), torch.isinf(torch_f32))
    zero = exact == 0
    assert torch.equal(got[zero], exact[zero].float()) and torch.equal(torch.signbit(got[zero]),
                                                                        torch.signbit(exact[zero]))
    # the fast kernel is a different implementation (else this module would be pointless): some bits differ
    assert not torch.equal(got, torch_f32)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_outside_the_fast_block_and_for_other_tensors_the_kernels_are_torchs(name):
    reference, _ = KERNELS[name]
    x = _grid()
    kernel = getattr(_fast, name)
    assert torch.equal(kernel(x).nan_to_num(), reference(x).nan_to_num())
    with fast_kernels():
        with exact_kernels():  # nested: torch again, and restored on exit
            assert torch.equal(kernel(x).nan_to_num(), reference(x).nan_to_num())
        assert _fast.fast_kernels_enabled()
        x64 = x.double()  # float64 and autograd-recording tensors keep torch's kernels
        assert torch.equal(kernel(x64).nan_to_num(), reference(x64).nan_to_num())
        xg = x[:100].clone().requires_grad_()
        assert kernel(xg).requires_grad
    assert not _fast.fast_kernels_enabled()


def test_i0e_coefficients_are_what_the_generator_computes():
    small, large = coefficients()
    assert (small, large) == (_fast._I0E_SMALL, _fast._I0E_LARGE)


def test_the_space_definition_ignores_the_fast_block():
    """Outputs, Gaussian moments (AutoInit) and equivalence classes are defined with torch's kernels."""
    functions = ["elu(x)", "sub(softplus(x),selu(x))", "bessel_i0e(x)", "mul(arcsinh(x),cosh(x))"]
    plain = [function_outputs(f) for f in functions]
    _moments.cache_clear()
    moments = [gaussian_moments(f) for f in functions]
    _moments.cache_clear()
    with fast_kernels():
        assert all(np.array_equal(a, function_outputs(f)) for a, f in zip(plain, functions))
        assert [gaussian_moments(f) for f in functions] == moments


@pytest.mark.parametrize("name", sorted(UNARY_OPS))
def test_every_unary_operator_trains_with_values_and_derivatives_close_to_torchs(name):
    """The fused activation under the fast kernels: f within relative 1e-6 (a few float32 ulps) of the
    torch-kernel evaluation, f' within 1e-6 * (1 + |f|) (derivative formulas that subtract, such as
    i1e(x) - sign(x) i0e(x), carry the absolute error of their terms), with the same non-finite pattern."""
    x = torch.linspace(-30, 30, 20001)
    ref_y, ref_d = value_and_derivative(f"{name}(x)", x)
    with fast_kernels():
        y, d = value_and_derivative(f"{name}(x)", x)
        xg = x.clone().requires_grad_()
        out = ActivationFunction(f"{name}(x)")(xg)
        out.sum().backward()
    scale = 1e-6 * (1.0 + ref_y.abs().nan_to_num(posinf=0.0))
    for got, want, atol in ((y, ref_y, None), (out.detach(), ref_y, None), (d, ref_d, scale), (xg.grad, ref_d, scale)):
        want = torch.as_tensor(want, dtype=x.dtype).expand_as(x)
        got = torch.as_tensor(got, dtype=x.dtype).expand_as(x)
        assert torch.equal(torch.isfinite(got), torch.isfinite(want))
        ok = torch.isfinite(want)
        err = (got[ok].double() - want[ok].double()).abs()
        limit = 1e-6 * want[ok].double().abs() + (1e-37 if atol is None else atol[ok].double())
        assert bool((err <= limit).all()), f"{name}: max error {err.max().item():.3g}"
