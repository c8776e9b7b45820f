"""AutoInit: analytic signal propagation gives unit-variance layer outputs at initialisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from act_bench.space import PAPER_THREE_NODE_SCHEMA, equivalence_classes, evaluate, function_outputs, gaussian_moments
from data_builders.autoinit import activation_moments, autoinit
from data_builders.models import create_model


def _second_moment_converges(f: str) -> bool:
    """E[f(z)^2] under N(0,1) is finite: two grid resolutions agree (rejects e.g. 1/x singularities)."""
    values = []
    for n in (40001, 400001):
        z = torch.linspace(-10, 10, n, dtype=torch.float64)
        w = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        y = evaluate(f, z)
        values.append(float(torch.trapezoid(w * y * y, dx=float(z[1] - z[0]))))
    a, b = values
    return math.isfinite(a) and a > 0 and abs(a - b) <= 1e-6 * a


def _conv_output_variances(model, x):
    variances = []
    hooks = [m.register_forward_hook(lambda mod, i, o: variances.append(float(o.var())))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return variances


def test_activation_moments_match_monte_carlo():
    z = torch.randn(4_000_000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for f in ("relu(x)", "swish(x)", "add(tanh(x),sigmoid(x))"):
        y = evaluate(f, z)
        mean, second = gaussian_moments(f)
        assert mean == pytest.approx(float(y.mean()), abs=2e-3)
        assert second == pytest.approx(float((y * y).mean()), rel=3e-3)
    assert activation_moments(torch.nn.ReLU()) == pytest.approx((1 / math.sqrt(2 * math.pi), 0.5), rel=1e-6)


def test_all_cnn_c_layer_variances_for_random_functions():
    classes = equivalence_classes(schemas=PAPER_THREE_NODE_SCHEMA)
    rng = np.random.default_rng(0)
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    checked, report = 0, []
    for i in rng.permutation(len(classes)):
        f = classes.representatives[i]
        if not np.isfinite(function_outputs(f)).all() or not _second_moment_converges(f):
            continue
        model = autoinit(create_model("all-cnn-c", f), seed=0).train()
        variances = _conv_output_variances(model, x)
        if not np.isfinite(variances).all():
            continue  # the function does not stay finite in the network
        hidden = variances[:-1]  # the 8 convolutions followed by the activation
        report.append((f, [round(v, 2) for v in hidden]))
        checked += 1
        if checked == 20:
            break
    outside = [r for r in report if not all(0.5 <= v <= 2 for v in r[1])]
    assert checked == 20
    # Analytic AutoInit assumes Gaussian pre-activations; strongly super-linear functions break that assumption in
    # a deep plain network (see the module docstring). Measured with this seed: 19 of 20 within [0.5, 2].
    # The 10-channel classifier convolution is not checked: for activations with a large mean its output is
    # dominated by per-channel offsets (variance 0.4-0.6 averaged over weight draws; see docs/builders.md).
    assert len(outside) <= 1, f"layer output variances outside [0.5, 2]: {outside}"
    for f, hidden in report:  # the first layers, before any compounding, are always close to 1
        assert all(0.5 <= v <= 2 for v in hidden[:4]), (f, hidden)
