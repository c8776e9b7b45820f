"""Per-layer CDF features of FIM spectra (paper appendix D) and their layout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from act_bench.errors import InvalidInputError

__all__ = [
    "LOG_EIG_RANGE",
    "WEIGHTS_PER_BIN",
    "FeatureLayout",
    "LayoutRow",
    "cdf_features",
    "histogram_counts",
    "layout_from_weights",
]

#: Histogram range of the log-eigenvalues.
LOG_EIG_RANGE = (-100.0, 100.0)
#: One bin per this many weights of a layer (floor), so layers under 100 weights contribute no bins.
WEIGHTS_PER_BIN = 100


@dataclass(frozen=True)
class LayoutRow:
    """One layer of the feature vector: module name (``layer``), number of weights, number of bins.

    The one FIM-layout type of act-bench: builds, live searches, table metadata (``fim_layout``, as
    :meth:`FeatureLayout.to_records`), searchers and the upstream import all spell a layer ``layer``/``weights``/
    ``bins``.
    """

    layer: str
    weights: int
    bins: int


@dataclass(frozen=True)
class FeatureLayout:
    """Which slice of the CDF feature vector belongs to which layer (metadata stored next to the features).

    Examples
    --------
    >>> lay = layout_from_weights([("conv", 2688), ("fc", 90)])
    >>> lay.dims, lay.slices()
    (26, {'conv': slice(0, 26, None)})
    """

    rows: tuple[LayoutRow, ...]

    @property
    def dims(self) -> int:
        """Total number of features (``fim_dims``)."""
        return sum(r.bins for r in self.rows)

    def slices(self) -> dict[str, slice]:
        """Feature slice of every layer that has bins."""
        out, start = {}, 0
        for r in self.rows:
            if r.bins:
                out[r.layer] = slice(start, start + r.bins)
            start += r.bins
        return out

    def to_records(self) -> list[dict]:
        """JSON-ready ``[{"layer", "weights", "bins"}, ...]`` (the table metadata's ``fim_layout``)."""
        return [{"layer": r.layer, "weights": r.weights, "bins": r.bins} for r in self.rows]

    @classmethod
    def from_records(cls, records: Sequence[dict]) -> FeatureLayout:
        """Inverse of :meth:`to_records` (validated)."""
        rows = []
        for i, rec in enumerate(records):
            try:
                name, weights, bins = str(rec["layer"]), int(rec["weights"]), int(rec["bins"])
            except (KeyError, TypeError, ValueError):
                raise InvalidInputError(f"layout record {i} must have keys layer, weights, bins; got {rec!r}") from None
            if weights < 0 or bins != weights // WEIGHTS_PER_BIN:
                raise InvalidInputError(f"layout record {i} ({name!r}) must have bins = floor(weights / "
                                        f"{WEIGHTS_PER_BIN}); got weights={weights}, bins={bins}")
            rows.append(LayoutRow(name, weights, bins))
        return cls(tuple(rows))


def layout_from_weights(layers: Sequence[tuple[str, int]]) -> FeatureLayout:
    """Layout for ``(name, weights)`` pairs: ``floor(weights / 100)`` bins per layer."""
    return FeatureLayout(tuple(LayoutRow(str(n), int(w), int(w) // WEIGHTS_PER_BIN) for n, w in layers))


def histogram_counts(values: np.ndarray, bins: int, value_range: tuple[float, float] = LOG_EIG_RANGE) -> np.ndarray:
    """Counts of ``values`` in ``bins`` equal bins over ``value_range``; values outside the range (incl. +-inf) are
    clipped into the first/last bin, so every value is counted. Bins are half-open except the last (as numpy).

    Examples
    --------
    >>> histogram_counts(np.array([-1e9, -50.0, 0.0, 99.0, np.inf]), 4).tolist()
    [1, 1, 1, 2]
    """
    lo, hi = value_range
    v = np.asarray(values, dtype=np.float64)
    if np.isnan(v).any():
        raise InvalidInputError("log-eigenvalues must not contain NaN")
    v = np.clip(v, lo, hi)
    idx = np.clip(np.floor((v - lo) * (bins / (hi - lo))), 0, bins - 1).astype(np.int64)
    # the product can land one bin off next to an edge: settle against the edges themselves
    edges = np.linspace(lo, hi, bins + 1)
    idx -= v < edges[idx]
    idx += (v >= edges[idx + 1]) & (idx != bins - 1)
    return np.bincount(idx, minlength=bins)


def cdf_features(spectra: Sequence) -> tuple[np.ndarray, FeatureLayout]:
    """CDF feature vector of per-layer FIM spectra (paper appendix D) and its layout.

    For a layer with ``w`` weights, ``floor(w / 100)`` equal bins over [-100, 100] of its log-eigenvalues give a
    density histogram whose cumulative sum times the bin width is the empirical CDF at the bins' right edges; layers
    are concatenated in module order. Log-eigenvalues outside the range (``-inf`` for zero eigenvalues) are clipped
    into the edge bins, so the CDF counts every eigenvalue and its last entry is 1.

    Parameters
    ----------
    spectra : sequence of LayerSpectrum
        From :func:`fim_log_eigenvalues`; all layers must be valid.

    Returns
    -------
    features : numpy.ndarray
        float64 vector of length ``layout.dims``.
    layout : FeatureLayout

    Examples
    --------
    >>> from act_bench.features import LayerSpectrum
    >>> s = LayerSpectrum("fc", 200, np.linspace(-10, 10, 200))
    >>> vec, lay = cdf_features([s])
    >>> vec.tolist(), lay.dims
    ([0.5, 1.0], 2)
    """
    parts, rows = [], []
    for s in spectra:
        if not getattr(s, "valid", True):
            raise InvalidInputError(f"the spectrum of layer {s.name!r} is invalid ({s.reason}); invalid spectra have "
                                    "no CDF features")
        ev = np.asarray(s.log_eigenvalues)
        if ev.shape != (s.weights,):
            raise InvalidInputError(f"layer {s.name!r} must have {s.weights} log-eigenvalues; got shape {ev.shape}")
        bins = s.weights // WEIGHTS_PER_BIN
        rows.append(LayoutRow(s.name, s.weights, bins))
        if bins:
            counts = histogram_counts(ev, bins)
            parts.append(np.cumsum(counts) / ev.size)
    vec = np.concatenate(parts) if parts else np.zeros(0)
    return vec.astype(np.float64, copy=False), FeatureLayout(tuple(rows))
