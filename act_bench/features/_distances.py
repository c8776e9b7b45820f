"""Distances of the paper: Eq. 2 between FIM spectra (from CDF features) and Eq. 3 between function outputs."""

from __future__ import annotations

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.features._cdf import LOG_EIG_RANGE, FeatureLayout

__all__ = ["fim_distance", "layer_weights", "output_distance"]


def layer_weights(layout: FeatureLayout) -> np.ndarray:
    """Per-feature factor of Eq. 2: for a feature of layer l, ``|theta_l| / sum_k |theta_k| * bin_width_l``
    (sums over layers that have bins), so that the weighted L1 distance of CDF vectors equals Eq. 2."""
    total = sum(r.weights for r in layout.rows if r.bins)
    out = np.empty(layout.dims, dtype=np.float64)
    width = LOG_EIG_RANGE[1] - LOG_EIG_RANGE[0]
    start = 0
    for r in layout.rows:
        if r.bins:
            out[start:start + r.bins] = (r.weights / total) * (width / r.bins)
            start += r.bins
    return out


def fim_distance(cdf_a: np.ndarray, cdf_b: np.ndarray, layout: FeatureLayout) -> np.ndarray | float:
    """Paper Eq. 2: layer-size-weighted sum of per-layer 1-Wasserstein distances between eigenvalue distributions.

    ``d(a, b) = sum_l (|theta_l| / sum_k |theta_k|) * W1(nu_a,l, nu_b,l)`` with ``W1 = integral |F_a - F_b|``
    evaluated on the histogram CDFs (a step function per bin of width ``200 / bins_l``). Because
    ``|theta_l| * 200 / bins_l`` is about 20,000 for every layer, Eq. 2 is close to ``20000 / sum_k |theta_k|`` times
    the Manhattan distance of the CDF vectors, which is what the paper's UMAP (``metric='manhattan'``) uses.

    Parameters
    ----------
    cdf_a, cdf_b : array_like
        CDF feature vectors (last axis ``layout.dims``); leading axes broadcast.
    layout : FeatureLayout

    Returns
    -------
    float or numpy.ndarray

    Examples
    --------
    >>> from act_bench.features import layout_from_weights
    >>> lay = layout_from_weights([("l1", 200)])
    >>> fim_distance(np.array([1.0, 1.0]), np.array([0.0, 1.0]), lay)  # all mass moved from [-100,0) to [0,100]
    100.0
    """
    a = np.asarray(cdf_a, dtype=np.float64)
    b = np.asarray(cdf_b, dtype=np.float64)
    if not isinstance(layout, FeatureLayout):
        raise InvalidInputError(f"parameter layout of fim_distance must be a FeatureLayout; got {type(layout).__name__}")
    if a.shape[-1:] != (layout.dims,) or b.shape[-1:] != (layout.dims,):
        raise InvalidInputError(f"CDF vectors must have {layout.dims} features (last axis) for this layout; got "
                                f"shapes {a.shape} and {b.shape}")
    d = (np.abs(a - b) * layer_weights(layout)).sum(-1)
    return float(d) if np.ndim(d) == 0 else d


def output_distance(outputs_a: np.ndarray, outputs_b: np.ndarray) -> np.ndarray | float:
    """Paper Eq. 3: Euclidean distance between activation-function outputs on the standard inputs.

    Non-finite outputs give a non-finite distance (NaN or inf), as the paper filters such functions out.

    Examples
    --------
    >>> output_distance(np.array([0.0, 3.0]), np.array([4.0, 0.0]))
    5.0
    """
    a = np.asarray(outputs_a, dtype=np.float64)
    b = np.asarray(outputs_b, dtype=np.float64)
    if a.shape[-1:] != b.shape[-1:] or a.ndim == 0:
        raise InvalidInputError(f"outputs must have the same length (last axis); got shapes {a.shape} and {b.shape}")
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.sqrt(((a - b) ** 2).sum(-1))
    return float(d) if np.ndim(d) == 0 else d
