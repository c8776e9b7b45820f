"""One call from a network and a mini-batch to validated CDF features (what table builders and the CLI use)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from act_bench.features._cdf import FeatureLayout, cdf_features, layout_from_weights
from act_bench.features._fisher import LayerSpectrum, compute_spectra
from act_bench.features._layers import fim_layers

__all__ = ["FimResult", "compute_fim_features", "fim_layout"]


def fim_layout(model: nn.Module) -> FeatureLayout:
    """Feature layout (layer, weights, bins) of ``model`` without computing anything.

    Examples
    --------
    >>> from data_builders.models import create_model
    >>> fim_layout(create_model("all-cnn-c", "relu(x)")).dims
    13692
    """
    return layout_from_weights([(i.name, i.weights) for i in fim_layers(model)])


@dataclass(frozen=True)
class FimResult:
    """Outcome of :func:`compute_fim_features`.

    Attributes
    ----------
    valid : bool
        False when any layer's activations, gradients or factors were not finite.
    reason : str or None
        Why the result is invalid (first failing layer in module order).
    features : numpy.ndarray or None
        CDF feature vector (``layout.dims`` float64) when valid.
    layout : FeatureLayout
        Layer table of the feature vector (always present).
    spectra : list of LayerSpectrum
    seconds : float
        Wall-clock time of the whole computation.
    timings : dict
        Split into ``forward``, ``backward``, ``factors``, ``eigen``, ``cdf`` seconds.
    """

    valid: bool
    reason: str | None
    features: np.ndarray | None
    layout: FeatureLayout
    spectra: list[LayerSpectrum] = field(repr=False)
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)

    @property
    def fim_dims(self) -> int:
        """Length of the feature vector."""
        return self.layout.dims


def compute_fim_features(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *,
                         loss: str = "cross_entropy", fisher: str = "empirical", seed: int | None = None,
                         train_mode: bool = False) -> FimResult:
    """K-FAC spectra and CDF features of ``model`` on one mini-batch, with a validity verdict.

    Never raises for diverging activations (non-finite values give ``valid=False`` and a ``reason``); invalid
    arguments raise :class:`~act_bench.errors.InvalidInputError`. Arguments as for :func:`fim_log_eigenvalues`.

    Examples
    --------
    >>> from data_builders.models import create_model
    >>> net = create_model("mnist1d-cnn", "exp(exp(x))")
    >>> res = compute_fim_features(net, torch.randn(8, 1, 40) * 10, torch.zeros(8, dtype=torch.long))
    >>> res.valid, res.features is None, res.fim_dims
    (False, True, 95)
    """
    t0 = time.perf_counter()
    out = compute_spectra(model, inputs, targets, loss=loss, fisher=fisher, seed=seed, train_mode=train_mode)
    layout = layout_from_weights([(s.name, s.weights) for s in out.layers])
    features = None
    timings = dict(out.timings)
    if out.valid:
        t1 = time.perf_counter()
        features, layout = cdf_features(out.layers)
        timings["cdf"] = time.perf_counter() - t1
    return FimResult(out.valid, out.reason, features, layout, out.layers, time.perf_counter() - t0, timings)
