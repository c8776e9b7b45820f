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

from typing import TYPE_CHECKING

from act_bench._lazy import lazy_exports

# the layout and CDF helpers need only numpy: `import act_bench.features` stays torch-free (searchers and the light
# CLI commands use the one FIM-layout type, LayoutRow); every other name loads its module (and torch) on first use
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

if TYPE_CHECKING:  # pragma: no cover - resolved lazily at run time (PEP 562)
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

_LAZY: dict[str, str] = {
    "FimResult": "act_bench.features._features",
    "compute_fim_features": "act_bench.features._features",
    "fim_layout": "act_bench.features._features",
    "FISHER_TYPES": "act_bench.features._fisher",
    "LOSSES": "act_bench.features._fisher",
    "FimSpectra": "act_bench.features._fisher",
    "LayerSpectrum": "act_bench.features._fisher",
    "compute_spectra": "act_bench.features._fisher",
    "fim_log_eigenvalues": "act_bench.features._fisher",
    "kronecker_factors": "act_bench.features._kfac",
    "LayerInfo": "act_bench.features._layers",
    "LayerKind": "act_bench.features._layers",
    "fim_layers": "act_bench.features._layers",
    "function_output_features": "act_bench.features._outputs",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


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
