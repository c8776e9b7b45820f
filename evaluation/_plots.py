"""PNG figures (matplotlib, Agg backend): search curves (paper Fig. 7), 2-D UMAP maps coloured by accuracy
(Fig. 4) and FIM eigenvalue distributions reconstructed from the CDF features (Fig. 5)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.utils import atomic_write

__all__ = ["eigenvalue_density", "plot_eigenvalue_distributions", "plot_map", "plot_search_curves"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InvalidInputError(f"plots are written as PNG; the output path must end in .png; got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))


#: What the shaded band of a search curve is (``evaluation.mean_ci``), printed under every curve figure.
CURVE_BAND_NOTE = "line: mean over seeds; band: 95% confidence interval of that mean (Student t)"


def plot_search_curves(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: str | os.PathLike, *,
                       x: np.ndarray | None = None, xlabel: str = "Evaluations",
                       ylabel: str = "Best validation accuracy", title: str | None = None,
                       reference: dict[str, float] | None = None, note: str | None = CURVE_BAND_NOTE) -> Path:
    """Best-so-far curves (mean line, 95% CI band) of several algorithms, like the paper's Fig. 7.

    ``curves`` maps an algorithm name to ``(mean, low, high)`` arrays; ``reference`` adds horizontal lines (e.g.
    ``{"ReLU": 0.8, "top 1%": 0.9}``); ``note`` is printed under the axes (default: what line and band are).
    """
    fig = _search_curves_figure(curves, x=x, xlabel=xlabel, ylabel=ylabel, title=title, reference=reference,
                                note=note)
    out = _save(fig, path)
    _pyplot().close(fig)
    return out


def _search_curves_figure(curves, *, x, xlabel, ylabel, title, reference, note):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, (mean, lo, hi) in curves.items():
        xs = np.arange(1, len(mean) + 1) if x is None else x
        line, = ax.plot(xs, mean, label=name, lw=1.6)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    for label, value in (reference or {}).items():
        if value is not None and np.isfinite(value):
            ax.axhline(value, color="grey", ls="--", lw=0.8)
            ax.annotate(label, (ax.get_xlim()[0], value), fontsize=7, color="grey", va="bottom")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if note:
        ax.annotate(note, (0, 0), xycoords="axes fraction", xytext=(0, -34), textcoords="offset points",
                    fontsize=7, color="dimgrey", va="top")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return fig


def plot_map(coords: np.ndarray | dict[str, np.ndarray], values: np.ndarray | dict[str, np.ndarray],
             path: str | os.PathLike, *, title: str | None = None, highlight: dict[str, Any] | None = None,
             vmin: float | None = None, vmax: float | None = None) -> Path:
    """2-D maps coloured by accuracy, like the paper's Fig. 4 (one panel per entry when given dicts).

    Points with a non-finite value are drawn grey; ``highlight`` maps a label to the (x, y) of a function to mark.
    """
    plt = _pyplot()
    if not isinstance(coords, dict):
        coords, values = {title or "": coords}, {title or "": values}
    panels = list(coords)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    allv = np.concatenate([np.asarray(values[p], dtype=float) for p in panels])
    fin = allv[np.isfinite(allv)]
    lo = vmin if vmin is not None else (float(np.quantile(fin, 0.05)) if fin.size else 0.0)
    hi = vmax if vmax is not None else (float(fin.max()) if fin.size else 1.0)
    sc = None
    for ax, p in zip(axes[0], panels):
        xy = np.asarray(coords[p], dtype=float)
        v = np.asarray(values[p], dtype=float)
        if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] != v.shape[0]:
            raise InvalidInputError(f"map panel {p!r}: coords must be (n, 2) and values (n,); got {xy.shape} and "
                                    f"{v.shape}")
        bad = ~np.isfinite(v)
        ax.scatter(xy[bad, 0], xy[bad, 1], s=3, c="lightgrey", lw=0)
        order = np.argsort(v[~bad])
        sc = ax.scatter(xy[~bad][order, 0], xy[~bad][order, 1], s=4, c=v[~bad][order], cmap="viridis",
                        vmin=lo, vmax=hi, lw=0)
        marked = list((highlight or {}).get(p, {}).items())
        for (label, (hx, hy)), offset in zip(marked, _label_offsets([xy for _, xy in marked], xy)):
            ax.scatter([hx], [hy], s=40, facecolors="none", edgecolors="red", lw=1.2)
            ax.annotate(label, (hx, hy), fontsize=7, color="red", xytext=offset, textcoords="offset points",
                        ha="left" if offset[0] >= 0 else "right",
                        arrowprops={"arrowstyle": "-", "color": "red", "lw": 0.5})
        ax.set_title(p)
        ax.set_xticks([])
        ax.set_yticks([])
    if sc is not None:
        fig.colorbar(sc, ax=axes[0].tolist(), label="Validation accuracy", shrink=0.85)
    out = _save(fig, path)
    plt.close(fig)
    return out


def _label_offsets(points: list[tuple[float, float]], cloud: np.ndarray) -> list[tuple[float, float]]:
    """Text offsets (points) for labels of marked points: each label whose point lies near an earlier marked point
    (within 8% of the map's extent) gets the next free direction, so that labels of neighbours never overlap."""
    span = np.ptp(cloud, axis=0) if len(cloud) else np.ones(2)
    span = np.where(span > 0, span, 1.0)
    directions = [(6, 6), (6, -14), (-6, 6), (-6, -14), (6, 20), (-6, 20), (6, -28), (-6, -28)]
    out: list[tuple[float, float]] = []
    for i, (px, py) in enumerate(points):
        taken = {out[j] for j, (qx, qy) in enumerate(points[:i])
                 if abs(px - qx) < 0.08 * span[0] and abs(py - qy) < 0.08 * span[1]}
        out.append(next((d for d in directions if d not in taken), directions[i % len(directions)]))
    return out


def eigenvalue_density(cdf: np.ndarray, layout: Sequence[Any], grid: np.ndarray, *,
                       value_range: tuple[float, float] = (-100.0, 100.0)) -> np.ndarray:
    """Whole-network density of the FIM log-eigenvalue distribution on ``grid`` from per-layer CDF vectors.

    Each layer's CDF is read as piecewise linear over its equal bins on ``value_range``; layers are mixed in
    proportion to their number of eigenvalues (= weights) and the mixture CDF is differentiated on ``grid``.
    """
    lo, hi = value_range
    cdf = np.asarray(cdf, dtype=np.float64)
    total = np.zeros(grid.size)
    wsum = 0.0
    start = 0
    for layer in layout:
        bins = int(layer["bins"] if isinstance(layer, dict) else layer.bins)
        weights = float(layer["weights"] if isinstance(layer, dict) else layer.weights)
        block = cdf[start:start + bins]
        start += bins
        if bins == 0:
            continue
        edges = np.linspace(lo, hi, bins + 1)
        total += weights * np.interp(grid, edges, np.concatenate([[0.0], block]))
        wsum += weights
    if wsum == 0:
        return np.zeros(grid.size)
    mix = total / wsum
    return np.gradient(mix, grid)


def plot_eigenvalue_distributions(cdfs: dict[str, np.ndarray], layout: Sequence[Any], path: str | os.PathLike, *,
                                  n_grid: int = 400, xlim: tuple[float, float] | None = None,
                                  title: str | None = None) -> Path:
    """Densities of the FIM log-eigenvalue distributions of a few functions, like the paper's Fig. 5."""
    if not layout:
        raise InvalidInputError("eigenvalue distributions need the table's fim_layout; it is empty")
    fig = _eigenvalue_figure(cdfs, layout, n_grid=n_grid, xlim=xlim, title=title)
    out = _save(fig, path)
    _pyplot().close(fig)
    return out


#: Caption of the eigenvalue figure: why mass piles up at -100.
EIGENVALUE_NOTE = ("log-eigenvalues below -100 (eigenvalues under e^-100, and exact zeros: log 0 = -inf) are "
                   "clipped into each layer's first bin,\nso a function with many of them shows a flat plateau at "
                   "-100 whose area is their share")


def _eigenvalue_figure(cdfs, layout, *, n_grid, xlim, title):
    plt = _pyplot()
    grid = np.linspace(-100, 100, n_grid)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    drawn: list[tuple[str, np.ndarray]] = []
    styles = ["-", "--", ":", "-."]
    markers = [None, "o", "s", "^", "v", "D"]
    for name, cdf in cdfs.items():
        cdf = np.asarray(cdf)
        same = next((other for other, c in drawn if c.shape == cdf.shape and np.array_equal(c, cdf, equal_nan=True)),
                    None)
        k = sum(1 for other, c in drawn if c.shape == cdf.shape and np.array_equal(c, cdf, equal_nan=True))
        label = name if same is None else f"{name} (same FIM features as {same})"
        # a function whose features equal an earlier one's is drawn dashed with markers on top of it, not hidden
        ax.plot(grid, eigenvalue_density(cdf, layout, grid), lw=1.2 + (0.6 if k else 0), label=label,
                ls=styles[k % len(styles)], marker=markers[k % len(markers)], markevery=(k * 7, 40), ms=3,
                zorder=2 + k)
        drawn.append((name, cdf))
    ax.set_xlabel("log eigenvalue (per layer, natural log)")
    ax.set_ylabel("density")
    if xlim:
        ax.set_xlim(*xlim)
    if title:
        ax.set_title(title)
    ax.annotate(EIGENVALUE_NOTE, (0, 0), xycoords="axes fraction", xytext=(0, -34), textcoords="offset points",
                fontsize=7, color="dimgrey", va="top")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig
