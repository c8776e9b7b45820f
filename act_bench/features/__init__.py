"""Features of activation functions: K-FAC Fisher spectra, per-layer CDF features, function outputs, distances.

Examples
--------
>>> import torch
>>> from act_bench.features import compute_fim_features
>>> from data_builders.models import create_model
>>> net = create_model("mnist1d-cnn", "relu(x)")
>>> res = compute_fim_features(net, torch.randn(16, 1, 40), torch.randint(0, 10, (16,)))
>>> res.valid, res.features.shape
(True, (95,))
"""

from __future__ import annotations

from act_bench.features._cdf import (
    LOG_EIG_RANGE,
    WEIGHTS_PER_BIN,
    FeatureLayout,
    LayoutRow,
    cdf_features,
    histogram_counts,
    layout_from_weights,
)
from act_bench.features._distances import fim_distance, layer_weights, output_distance
from act_bench.features._features import FimResult, compute_fim_features, fim_layout
from act_bench.features._fisher import (
    FISHER_TYPES,
    LOSSES,
    FimSpectra,
    LayerSpectrum,
    compute_spectra,
    fim_log_eigenvalues,
)
from act_bench.features._kfac import kronecker_factors
from act_bench.features._layers import LayerInfo, LayerKind, fim_layers
from act_bench.features._outputs import function_output_features

__all__ = [
    "FISHER_TYPES",
    "LOG_EIG_RANGE",
    "LOSSES",
    "WEIGHTS_PER_BIN",
    "FeatureLayout",
    "FimResult",
    "FimSpectra",
    "LayerInfo",
    "LayerKind",
    "LayerSpectrum",
    "LayoutRow",
    "cdf_features",
    "compute_fim_features",
    "compute_spectra",
    "fim_distance",
    "fim_layers",
    "fim_layout",
    "fim_log_eigenvalues",
    "function_output_features",
    "histogram_counts",
    "kronecker_factors",
    "layer_weights",
    "layout_from_weights",
    "output_distance",
]
