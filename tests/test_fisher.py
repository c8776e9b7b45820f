"""Oracle tests of the K-FAC Fisher spectra on tiny float64 networks.

References: per-sample gradients from ``torch.func``; the exact empirical Fisher for one example; curvlinops 3.0.1
``KFACLinearOperator`` (empirical Fisher, KFAC-expand); explicit Python loops for depthwise convolutions; dense
eigendecompositions of Kronecker products; the analytic Fisher of a softmax output for the Monte-Carlo Fisher.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from act_bench.errors import InvalidInputError
from act_bench.features import (
    compute_fim_features,
    compute_spectra,
    fim_layers,
    fim_log_eigenvalues,
    kronecker_factors,
)
from act_bench.features._fisher import capture
from act_bench.features._kfac import _omega_blocks, _omega_depthwise, _omega_unfold, _pad_input

DT = torch.float64


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class ConvNet(nn.Module):
    """Conv2d (stride 2, 'same'-like padding, dilation, no bias), depthwise conv, Conv1d-free head, Linear."""

    def __init__(self, act=nn.Tanh) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 8, 3, stride=2, padding=1)
        self.a1 = act()
        self.c2 = nn.Conv2d(8, 8, 3, padding="same", dilation=2, bias=False)
        self.a2 = act()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.a3 = act()
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = self.a3(self.dw(self.a2(self.c2(self.a1(self.c1(x))))))
        return self.fc(x.flatten(1))


class SeqNet(nn.Module):
    """Linear on 3-D input (weight sharing over the middle dimension), Conv1d with asymmetric 'same', Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Linear(4, 6)
        self.conv = nn.Conv1d(6, 5, 4, padding="same")
        self.fc = nn.Linear(5 * 7, 3)

    def forward(self, x):  # x: (N, 7, 4)
        h = torch.tanh(self.emb(x))  # (N, 7, 6)
        h = torch.tanh(self.conv(h.transpose(1, 2)))  # (N, 5, 7)
        return self.fc(h.flatten(1))


class PadNet(nn.Module):
    """Even kernel with padding='same' (asymmetric), reflect and circular padding modes, 1x1 stride-2 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 16, (2, 4), padding="same")
        self.c2 = nn.Conv2d(16, 9, 3, padding=1, padding_mode="reflect")
        self.c3 = nn.Conv2d(9, 4, 3, padding=(2, 1), dilation=(2, 1), padding_mode="circular", bias=False)
        self.c4 = nn.Conv2d(4, 4, 1, stride=2)
        self.fc = nn.Linear(4 * 3 * 4, 3)

    def forward(self, x):  # x: (N, 2, 6, 7)
        h = torch.tanh(self.c3(torch.tanh(self.c2(torch.tanh(self.c1(x))))))
        return self.fc(torch.sigmoid(self.c4(h)).flatten(1))


def _make(cls, seed=0, **kw):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(**kw).to(DT)


def _per_sample_grads(model, x, y):
    """Per-example gradients of the per-example loss (= per-example gradients of the summed loss)."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_one(p, xi, yi):
        out = torch.func.functional_call(model, p, (xi.unsqueeze(0),))
        return F.cross_entropy(out, yi.unsqueeze(0), reduction="sum")

    return torch.func.vmap(torch.func.grad(loss_one), in_dims=(None, 0, 0))(params, x, y)


def _patches(mod, a):
    """Unfolded patches (N, L, D) of a conv input (Conv1d as height-1 Conv2d); depthwise: (N, L*C, k)."""
    if isinstance(mod, nn.Conv1d):
        a = a.unsqueeze(2)
        k, s, d = (1, mod.kernel_size[0]), (1, mod.stride[0]), (1, mod.dilation[0])
    else:
        k, s, d = mod.kernel_size, mod.stride, mod.dilation
    cols = F.unfold(_pad_input(mod, a), k, dilation=d, stride=s)  # (N, C*k, L)
    return cols


def test_captured_activations_and_gradients_match_per_sample_gradients():
    for cls, x_shape in ((ConvNet, (5, 2, 8, 8)), (SeqNet, (5, 7, 4)), (PadNet, (5, 2, 6, 7))):
        model = _make(cls)
        x = torch.randn(x_shape, generator=_seeded(1), dtype=DT)
        y = torch.randint(0, 3, (5,), generator=_seeded(2))
        psg = _per_sample_grads(model, x, y)
        cap = capture(model, x, y)
        assert cap.reason is None
        for info in cap.infos:
            mod = cap.modules[info.name]
            a, g = cap.layer_inputs[info.name], cap.output_grads[info.name]
            if isinstance(mod, nn.Linear):
                gw = torch.einsum("n...o,n...i->noi", g, a)
                gb = g.reshape(g.shape[0], -1, g.shape[-1]).sum(1)
            elif mod.groups == 1:
                cols = _patches(mod, a)
                gm = g.reshape(g.shape[0], g.shape[1], -1)
                gw = torch.einsum("nol,ndl->nod", gm, cols).reshape(psg[info.name + ".weight"].shape)
                gb = gm.sum(2)
            else:  # depthwise: every channel has its own patch
                cols = _patches(mod, a)
                n, c = a.shape[:2]
                cols = cols.view(n, c, -1, cols.shape[-1])
                gm = g.reshape(n, c, -1)
                gw = torch.einsum("ncl,nckl->nck", gm, cols).reshape(psg[info.name + ".weight"].shape)
                gb = gm.sum(2)
            torch.testing.assert_close(gw, psg[info.name + ".weight"], rtol=1e-10, atol=1e-12)
            if isinstance(mod, (nn.Conv1d, nn.Conv2d)) and mod.groups == 1:  # Omega from the validated patches
                rows = _patches(mod, a).transpose(1, 2).reshape(-1, math.prod(gw.shape[2:]))
                if mod.bias is not None:
                    rows = torch.cat([torch.ones(rows.shape[0], 1, dtype=DT), rows], 1)
                omega, _ = kronecker_factors(mod, a, g, a.shape[0])
                torch.testing.assert_close(omega, rows.T @ rows / a.shape[0], rtol=1e-10, atol=1e-10)
            if mod.bias is not None:
                torch.testing.assert_close(gb, psg[info.name + ".bias"], rtol=1e-10, atol=1e-12)


def test_single_example_kfac_block_equals_exact_empirical_fisher():
    model = _make(lambda: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 6), nn.Sigmoid(),
                                        nn.Linear(6, 3)))
    x = torch.randn(1, 4, generator=_seeded(3), dtype=DT)
    y = torch.tensor([2])
    psg = _per_sample_grads(model, x, y)
    cap = capture(model, x, y)
    for info in cap.infos:
        mod = cap.modules[info.name]
        omega, gamma = kronecker_factors(mod, cap.layer_inputs[info.name], cap.output_grads[info.name], 1)
        # theta_bar = vec(W_bar) with W_bar = (b W), column-major vec => kron(Omega, Gamma)
        wbar = torch.cat([psg[info.name + ".bias"][0].unsqueeze(1), psg[info.name + ".weight"][0]], dim=1)
        v = wbar.T.reshape(-1)
        torch.testing.assert_close(torch.kron(omega, gamma), torch.outer(v, v), rtol=1e-10, atol=1e-14)


def test_spectrum_is_the_kronecker_eigenvalue_identity():
    model = _make(ConvNet)
    x = torch.randn(6, 2, 8, 8, generator=_seeded(4), dtype=DT)
    y = torch.randint(0, 5, (6,), generator=_seeded(5))
    cap = capture(model, x, y)
    spectra = {s.name: s for s in fim_log_eigenvalues(model, x, y)}
    for info in cap.infos:
        omega, gamma = kronecker_factors(cap.modules[info.name], cap.layer_inputs[info.name],
                                         cap.output_grads[info.name], 6)
        dense = np.sort(np.linalg.eigvalsh(torch.kron(omega, gamma).numpy()))
        ours = np.sort(np.exp(spectra[info.name].log_eigenvalues))
        assert ours.shape == (info.weights,) == dense.shape
        scale = dense.max()
        np.testing.assert_allclose(ours, np.maximum(dense, 0), rtol=1e-7, atol=1e-10 * scale)


def _curvlinops_factors(model, x, y, reduction):
    from curvlinops import KFACLinearOperator
    from curvlinops.kfac import FisherType, KFACType

    params = [p for p in model.parameters()]
    op = KFACLinearOperator(model, nn.CrossEntropyLoss(reduction=reduction), params, [(x, y)],
                            fisher_type=FisherType.EMPIRICAL, kfac_approx=KFACType.EXPAND,
                            separate_weight_and_bias=False, check_deterministic=False)
    op.compute_kronecker_factors()
    return op._input_covariances, op._gradient_covariances


def _bias_first(omega_cl, has_bias):
    if not has_bias:
        return omega_cl
    d = omega_cl.shape[0]
    perm = torch.cat([torch.tensor([d - 1]), torch.arange(d - 1)])
    return omega_cl[perm][:, perm]


@pytest.mark.parametrize("stride,padding,dilation,bias", [(1, 1, 1, True), (2, 0, 1, True), (1, "same", 2, False),
                                                          (2, 2, 2, True)])
def test_factors_and_spectra_match_curvlinops_expand(stride, padding, dilation, bias):
    """curvlinops (sum reduction): Omega_cl = sum a a^T / (N |T|) with the bias coordinate last, Gamma_cl =
    sum g g^T. Ours: Omega = |T| P Omega_cl P^T, Gamma = Gamma_cl / (N |T|), so the block spectrum is 1/N times
    curvlinops' (and identical to curvlinops with reduction='mean')."""
    model = _make(lambda: nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=stride, padding=padding, dilation=dilation, bias=bias), nn.Tanh(),
        nn.Conv2d(16, 4, 1), nn.Sigmoid(), nn.Flatten(), nn.LazyLinear(5)))
    x = torch.randn(7, 3, 9, 9, generator=_seeded(6), dtype=DT)
    model(x)  # materialise the lazy layer
    model = model.to(DT)
    y = torch.randint(0, 5, (7,), generator=_seeded(7))
    n = 7
    cap = capture(model, x, y)
    in_cl, grad_cl = _curvlinops_factors(model, x, y, "sum")
    in_mean, grad_mean = _curvlinops_factors(model, x, y, "mean")
    spectra = {s.name: s for s in fim_log_eigenvalues(model, x, y)}
    for info in cap.infos:
        mod = cap.modules[info.name]
        g = cap.output_grads[info.name]
        locations = math.prod(g.shape[2:]) if g.ndim > 2 else 1
        omega, gamma = kronecker_factors(mod, cap.layer_inputs[info.name], g, n)
        has_bias = mod.bias is not None
        torch.testing.assert_close(omega, locations * _bias_first(in_cl[info.name], has_bias), rtol=1e-9,
                                   atol=1e-12)
        torch.testing.assert_close(gamma, grad_cl[info.name] / (n * locations), rtol=1e-9, atol=1e-14)
        ref = np.sort(np.kron(np.linalg.eigvalsh(in_mean[info.name].numpy()),
                              np.linalg.eigvalsh(grad_mean[info.name].numpy())))
        ours = np.sort(np.exp(spectra[info.name].log_eigenvalues))
        np.testing.assert_allclose(ours, np.maximum(ref, 0), rtol=1e-6, atol=1e-9 * ref.max())


def test_linear_on_nd_inputs_matches_curvlinops_expand():
    model = _make(lambda: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Flatten(), nn.Linear(18, 3)))
    x = torch.randn(5, 3, 4, generator=_seeded(8), dtype=DT)
    y = torch.randint(0, 3, (5,), generator=_seeded(9))
    cap = capture(model, x, y)
    in_cl, grad_cl = _curvlinops_factors(model, x, y, "sum")
    for info, locations in zip(cap.infos, (3, 1)):
        omega, gamma = kronecker_factors(cap.modules[info.name], cap.layer_inputs[info.name],
                                         cap.output_grads[info.name], 5)
        torch.testing.assert_close(omega, locations * _bias_first(in_cl[info.name], True), rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(gamma, grad_cl[info.name] / (5 * locations), rtol=1e-9, atol=1e-14)


def _loop_conv_factors(x, g, kernel, stride, pad, dil, bias, depthwise):
    """Explicit loops over examples, channels and output locations (2-D, zero padding)."""
    n, c, h, w = x.shape
    _, cout, ho, wo = g.shape
    kh, kw = kernel
    def patch(i, ch, oy, ox):
        vals = []
        for a in range(kh):
            for b in range(kw):
                yy, xx = oy * stride - pad + a * dil, ox * stride - pad + b * dil
                vals.append(float(x[i, ch, yy, xx]) if 0 <= yy < h and 0 <= xx < w else 0.0)
        return vals

    rows = []
    for i in range(n):
        for oy in range(ho):
            for ox in range(wo):
                if depthwise:
                    for ch in range(c):
                        rows.append(([1.0] if bias else []) + patch(i, ch, oy, ox))
                else:
                    full = []
                    for ch in range(c):
                        full += patch(i, ch, oy, ox)
                    rows.append(([1.0] if bias else []) + full)
    a = np.array(rows)
    omega = a.T @ a / n
    gm = g.permute(0, 2, 3, 1).reshape(-1, cout).numpy()
    gamma = gm.T @ gm / (n * ho * wo)
    return omega, gamma


@pytest.mark.parametrize("stride,pad,dil,bias", [(1, 1, 1, True), (2, 1, 1, False), (1, 2, 2, True)])
def test_depthwise_factors_match_explicit_loops(stride, pad, dil, bias):
    conv = _make(lambda: nn.Conv2d(3, 3, 3, stride=stride, padding=pad, dilation=dil, groups=3, bias=bias))
    x = torch.randn(2, 3, 6, 5, generator=_seeded(10), dtype=DT)
    out = conv(x)
    g = torch.randn(out.shape, generator=_seeded(11), dtype=DT)
    omega, gamma = kronecker_factors(conv, x, g, 2)
    ref_o, ref_g = _loop_conv_factors(x, g, (3, 3), stride, pad, dil, bias, True)
    np.testing.assert_allclose(omega.numpy(), ref_o, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gamma.numpy(), ref_g, rtol=1e-12, atol=1e-12)
    assert omega.shape[0] * gamma.shape[0] == sum(p.numel() for p in conv.parameters())


@pytest.mark.parametrize("c,kernel,stride,pad,dil", [(16, (3, 3), 1, 1, 1), (9, (3, 2), 1, 2, 2),
                                                     (8, (3, 3), 2, 1, 1), (10, (5, 3), 3, 2, 1)])
def test_block_gram_equals_unfolded_gram_and_loops(c, kernel, stride, pad, dil):
    conv = _make(lambda: nn.Conv2d(c, 4, kernel, stride=stride, padding=pad, dilation=dil))
    x = torch.randn(3, c, 9, 8, generator=_seeded(12), dtype=DT)
    xp = _pad_input(conv, x)
    k, s, d = conv.kernel_size, conv.stride, conv.dilation
    g1, t1, r1 = _omega_blocks(xp, k, s, d)
    g2, t2, r2 = _omega_unfold(xp, k, s, d, False)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(t1, t2, rtol=1e-12, atol=1e-10)
    assert r1 == r2
    g1, t1, r1 = _omega_depthwise(xp, k, s, d)  # depthwise: one row per channel
    g2, t2, r2 = _omega_unfold(xp, k, s, d, True)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(t1, t2, rtol=1e-12, atol=1e-10)
    assert r1 == r2
    if c <= 9:  # and the whole factor against explicit loops
        g = torch.randn(conv(x).shape, generator=_seeded(13), dtype=DT)
        omega, gamma = kronecker_factors(conv, x, g, 3)
        ref_o, ref_g = _loop_conv_factors(x, g, kernel, stride, pad, dil, True, False)
        np.testing.assert_allclose(omega.numpy(), ref_o, rtol=1e-11, atol=1e-10)
        np.testing.assert_allclose(gamma.numpy(), ref_g, rtol=1e-12, atol=1e-12)


def test_mc_fisher_of_the_output_layer_approaches_the_analytic_fisher():
    """For one input repeated N times, Gamma of the last Linear layer under fisher='mc' is the sample mean of
    (p - e_y)(p - e_y)^T with y ~ p, whose expectation is diag(p) - p p^T."""
    model = _make(lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4)))
    x = torch.randn(1, 3, generator=_seeded(14), dtype=DT).repeat(4000, 1)
    y = torch.zeros(4000, dtype=torch.long)
    p = torch.softmax(model(x[:1]), -1)[0].detach().numpy()
    exact = np.sort(np.linalg.eigvalsh(np.diag(p) - np.outer(p, p)))
    last = compute_spectra(model, x, y, fisher="mc", seed=3).layers[-1]
    np.testing.assert_allclose(np.sort(last.gamma_eigenvalues), exact, atol=0.03)
    emp = compute_spectra(model, x, y, fisher="empirical").layers[-1]  # all labels 0: a rank-one Gamma
    assert np.sum(emp.gamma_eigenvalues > 1e-12 * emp.gamma_eigenvalues.max()) == 1
    again = compute_spectra(model, x, y, fisher="mc", seed=3).layers[-1]
    other = compute_spectra(model, x, y, fisher="mc", seed=4).layers[-1]
    np.testing.assert_array_equal(again.gamma_eigenvalues, last.gamma_eigenvalues)
    assert not np.array_equal(other.gamma_eigenvalues, last.gamma_eigenvalues)


def test_diverging_activation_is_invalid_not_an_exception():
    from act_bench.space import ActivationFunction

    model = _make(ConvNet, act=lambda: ActivationFunction("exp(exp(x))"))
    x = torch.randn(4, 2, 8, 8, generator=_seeded(15), dtype=torch.float64) * 3
    res = compute_fim_features(model, x.to(DT), torch.zeros(4, dtype=torch.long))
    assert res.valid is False and res.features is None and "non-finite" in res.reason
    assert res.fim_dims == sum(i.weights // 100 for i in fim_layers(model))
    assert all(not s.valid and s.log_eigenvalues.size == 0 for s in res.spectra)


def test_vanishing_activation_is_invalid():
    """zero(x): every hidden layer's output gradient vanishes, so its Gamma is the zero matrix; the output layer's
    factors are non-zero (bias input and softmax gradients) and it stays valid."""
    from act_bench.space import ActivationFunction

    model = _make(ConvNet, act=lambda: ActivationFunction("zero(x)"))
    x = torch.randn(4, 2, 8, 8, generator=_seeded(20), dtype=DT)
    res = compute_spectra(model, x, torch.tensor([0, 1, 2, 3]))
    assert res.valid is False
    assert res.reason == "vanishing: the K-FAC factor Gamma (output gradients) of layer 'c1' is zero"
    assert [s.valid for s in res.layers] == [False, False, False, True]
    fc = res.layers[-1]
    # Omega = e_0 e_0^T (128 zero eigenvalues) and Gamma has rank 4 (its null eigenvalue is round-off, either sign)
    assert np.isneginf(fc.log_eigenvalues).sum() in (128 * 5, 128 * 5 + 1)


def test_layer_called_twice_raises():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)

        def forward(self, x):
            return self.a(torch.tanh(self.a(x)))

    model = _make(Shared)
    x = torch.randn(3, 3, generator=_seeded(16), dtype=DT)
    with pytest.raises(InvalidInputError, match="more than once"):
        compute_spectra(model, x, torch.zeros(3, dtype=torch.long))


def test_layer_with_infinite_input_but_finite_logits_is_invalid():
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 4)
            self.b = nn.Linear(4, 2)

        def forward(self, x):
            h = torch.exp(self.a(x) * 1e4)  # overflows to inf for positive pre-activations
            out = self.b(h)
            return torch.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)

    model = _make(Masked)
    x = torch.randn(3, 3, generator=_seeded(16), dtype=DT)
    res = compute_spectra(model, x, torch.zeros(3, dtype=torch.long))
    assert res.valid is False
    # b sees infinite inputs; the NaN gradient flowing back through inf * 0 reaches a's output
    assert res.layers[1].valid is False and "non-finite input activations of layer 'b'" in res.layers[1].reason
    assert res.layers[0].valid is False and "non-finite output gradients of layer 'a'" in res.layers[0].reason
    assert res.reason == res.layers[0].reason


def test_unsupported_layers_and_bad_arguments_raise_clear_errors():
    x = torch.randn(2, 4, dtype=DT)
    y = torch.zeros(2, dtype=torch.long)
    with pytest.raises(InvalidInputError, match="grouped convolution"):
        fim_layers(nn.Sequential(nn.Conv2d(4, 6, 1, groups=2)))
    with pytest.raises(InvalidInputError, match="Embedding"):
        fim_layers(nn.Sequential(nn.Embedding(3, 4), nn.Linear(4, 2)))
    model = _make(lambda: nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)))
    assert [i.name for i in fim_layers(model)] == ["0", "2"]
    with pytest.raises(InvalidInputError, match="parameter loss"):
        fim_log_eigenvalues(model, x, y, loss="hinge")
    with pytest.raises(InvalidInputError, match="parameter fisher"):
        fim_log_eigenvalues(model, x, y, fisher="true")
    with pytest.raises(InvalidInputError, match="same batch size"):
        fim_log_eigenvalues(model, x, torch.zeros(3, dtype=torch.long))
    with pytest.raises(InvalidInputError, match="class labels in"):
        fim_log_eigenvalues(model, x, torch.tensor([0, 7]))
    with pytest.raises(InvalidInputError, match="forward pass"):
        fim_log_eigenvalues(model, torch.randn(2, 5, dtype=DT), y)


def test_modes_are_restored_and_eval_is_the_default():
    model = _make(lambda: nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 2)))
    model.train()
    x = torch.randn(16, 4, generator=_seeded(17), dtype=DT)
    y = torch.randint(0, 2, (16,), generator=_seeded(18))
    a = fim_log_eigenvalues(model, x, y)
    b = fim_log_eigenvalues(model, x, y)
    assert model.training and all(m.training for m in model.modules())
    for s, t in zip(a, b):  # eval mode: dropout off, deterministic
        np.testing.assert_array_equal(s.log_eigenvalues, t.log_eigenvalues)
    # mse loss: Gamma of the output layer is 4/N sum (f - y)(f - y)^T
    targets = torch.randn(16, 2, generator=_seeded(19), dtype=DT)
    last = compute_spectra(model, x, targets, loss="mse").layers[-1]
    model.eval()
    r = (model(x) - targets).detach().numpy()
    np.testing.assert_allclose(np.sort(last.gamma_eigenvalues), np.sort(np.linalg.eigvalsh(4 * r.T @ r / 16)),
                               rtol=1e-10)
