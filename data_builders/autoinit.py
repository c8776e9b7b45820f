"""AutoInit (Bingham & Miikkulainen, 2022): weight initialisation from analytic signal propagation.

The signal is summarised by its mean ``mu`` and second moment ``nu = E[a^2]``. Walking the model's modules in
registration order (the forward order of the zoo's sequential stems and blocks):

* ``Linear`` / ``Conv1d`` / ``Conv2d`` (incl. depthwise): weights ``~ N(0, 1 / (fan_in * nu))``, bias 0, so the
  pre-activation has mean 0 and variance 1 (``Var(sum_i w_i a_i) = fan_in * sigma^2 * E[a^2]`` for zero-mean ``w``);
  afterwards ``mu = 0, nu = 1``. This is the paper's form; it is blind to the incoming mean ``mu``: each output
  channel ``c`` gets a constant offset ``mu * sum_i w_ci`` that is zero only on average over weight draws.
* ``center=True`` (recipe ``init: autoinit-centered``) removes those offsets: for every output channel and every
  kernel tap the weights are centred over the input channels (``sum_i w[c, i, tap] = 0``), so a common input mean
  cancels exactly, also at zero-padded borders (padding removes whole taps), and the weights are scaled to the
  central variance, ``N(0, 1 / (fan_in * (nu - mu^2) * (1 - 1/C_in)))`` before centring. Layers with one input
  channel per group (depthwise, the first layer of a 1-channel input) or a zero incoming mean keep the paper's form.
* activation ``f`` (an :class:`~act_bench.space.ActivationFunction` or any module with ``expr``): with a standard-
  normal input, ``mu = E[f(z)]`` and ``nu = E[f(z)^2]``, computed numerically (``act_bench.space.gaussian_moments``).
  Other activation modules (``nn.ReLU`` ...) are handled by numerical integration of the module itself.
* ``Dropout(p)`` in training mode: ``nu /= (1 - p)``; average pooling over ``k`` positions, assuming independent
  positions: ``nu = mu^2 + (nu - mu^2) / k``; normalisation layers (BatchNorm, LayerNorm, GroupNorm) reset to
  ``mu = 0, nu = 1`` (their affine parameters are left at 1 and 0).

Known limitation (measured in ``tests/test_autoinit.py`` and ``docs/builders.md``): the propagation assumes
Gaussian pre-activations. For strongly super-linear activations (``mul(arcsinh(x),relu(x))``) the real
pre-activations are a heavier-tailed scale mixture, and the variance grows layer after layer in deep plain networks
(in both forms). The paper's form also leaves the 10-channel classifier of All-CNN-C at variance 0.41-0.47 for 6 of
the 20 tested functions, all with a large mean (the offsets above); the centred form keeps it within [0.5, 2].

Residual additions are not modelled (the zoo's residual networks normalise inside each block, which bounds the
error); the check in the tests is on the plain All-CNN-C, where the propagation is exact up to the independence
assumptions.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from act_bench.errors import InvalidInputError
from act_bench.space import ActivationFunction, gaussian_moments

__all__ = ["activation_moments", "autoinit", "initialize"]


def activation_moments(module: nn.Module) -> tuple[float, float]:
    """``(E[f(z)], E[f(z)^2])`` for ``z ~ N(0, 1)`` of an activation module."""
    expr = getattr(module, "expr", None)
    if isinstance(module, ActivationFunction) and not module.normalize:
        return gaussian_moments(expr)
    z = torch.linspace(-10.0, 10.0, 40001, dtype=torch.float64)
    w = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    with torch.no_grad():
        y = module(z.clone())
    dz = float(z[1] - z[0])
    return float(torch.trapezoid(w * y, dx=dz)), float(torch.trapezoid(w * y * y, dx=dz))


def _is_activation(m: nn.Module) -> bool:
    return isinstance(m, (ActivationFunction, nn.ReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.SELU,
                          nn.Softplus, nn.Hardswish, nn.LeakyReLU, nn.Mish))


def autoinit(model: nn.Module, *, seed: int = 0, input_second_moment: float = 1.0, center: bool = False
             ) -> nn.Module:
    """Initialise ``model`` in place with AutoInit and return it.

    Parameters
    ----------
    model : torch.nn.Module
        A network of the zoo (``data_builders.models``) or any model whose modules are registered in forward order.
    seed : int
        Seed of the local generator drawing the weights.
    input_second_moment : float
        ``E[x^2]`` of the (normalised) input data; 1 for standardised inputs.
    center : bool
        Centre each kernel tap's weights over the input channels so that the incoming mean cancels exactly (see the
        module docstring). ``False`` (default) is the paper's AutoInit, with which the shipped tables were built.

    Raises
    ------
    InvalidInputError
        If the activation's moments are not finite (e.g. ``exp(exp(x))``) or zero.

    Examples
    --------
    >>> from data_builders.models import create_model
    >>> m = autoinit(create_model("mnist1d-cnn", "relu(x)"), seed=0)
    """
    gen = torch.Generator().manual_seed(int(seed))
    mu, nu = 0.0, float(input_second_moment)
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            fan_in = m.weight[0].numel()
            if not (math.isfinite(nu) and nu > 0):
                raise InvalidInputError(f"AutoInit: the signal entering {name!r} has second moment {nu}; the "
                                        "activation function is not finite or is identically zero under N(0,1)")
            w = torch.randn(m.weight.shape, generator=gen, dtype=torch.float64)
            cin = w.shape[1]
            var = nu - mu * mu
            if center and mu != 0.0 and cin > 1 and var > 1e-12 * nu:
                w = (w - w.mean(dim=1, keepdim=True)) / math.sqrt(fan_in * var * (1.0 - 1.0 / cin))
            else:
                w = w / math.sqrt(fan_in * nu)
            with torch.no_grad():
                m.weight.copy_(w)
                if m.bias is not None:
                    m.bias.zero_()
            mu, nu = 0.0, 1.0
        elif _is_activation(m):
            mu, nu = activation_moments(m)
            if not (math.isfinite(mu) and math.isfinite(nu)):
                raise InvalidInputError(f"AutoInit: activation {name!r} has non-finite moments under N(0,1)")
        elif isinstance(m, nn.Dropout) and m.p < 1:
            nu = nu / (1.0 - m.p)
        elif isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else math.prod(m.kernel_size)
            k = k ** (2 if isinstance(m, nn.AvgPool2d) and isinstance(m.kernel_size, int) else 1)
            nu = mu * mu + (nu - mu * mu) / k
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
            mu, nu = 0.0, 1.0
    return model


def initialize(model: nn.Module, init: str, *, seed: int) -> nn.Module:
    """Initialise ``model`` as a recipe's ``init`` field says and return it.

    ``"autoinit"`` is :func:`autoinit`, ``"autoinit-centered"`` is ``autoinit(center=True)``, ``"default"`` leaves
    the framework's initialisation. Raises :class:`~act_bench.errors.InvalidInputError` as :func:`autoinit` does.

    Examples
    --------
    >>> from data_builders.models import create_model
    >>> m = initialize(create_model("mnist1d-cnn", "relu(x)"), "autoinit-centered", seed=0)
    """
    if init == "default":
        return model
    return autoinit(model, seed=seed, center=init == "autoinit-centered")
