"""Metrics of replayed searches: best-so-far curves with confidence intervals, evaluations to reach the table's
top 1% / 5% and evaluations after the baselines until the best baseline is beaten (medians with CIs), regret, area
under the curve, surrogate quality.

Confidence intervals treat the unit that a rerun varies as independent (:func:`ci_design`): one run per seed when
each run has its own map (or uses none); the maps when several runs share each map (cluster bootstrap over maps);
with one map shared by all runs the CI is over runs on that map and says so (it leaves out map-to-map variation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from act_bench.errors import InvalidInputError
from act_bench.tables import TOP_FRACTION, top_groups
from evaluation._results import ReplayResult, TableOracle

__all__ = [
    "TableReference",
    "best_so_far",
    "ci_design",
    "curve_vs_time",
    "evals_after_baselines",
    "evals_to",
    "incumbent_test",
    "mean_ci",
    "median_ci",
    "summarize",
    "unit_median_ci",
]


@dataclass(frozen=True)
class TableReference:
    """What a search is measured against: the table's best, top-1%/top-5% thresholds and ReLU's accuracy, all on
    the table's best estimates by twin group (:attr:`TableOracle.truth`).

    ``top1`` is the threshold of ``act_bench.tables.top_groups`` at :data:`~act_bench.tables.TOP_FRACTION`: the
    ``ceil(0.01 n)``-th best value among the ``n`` twin groups with a finite estimate, so "reaching the top 1%" means
    finding a function of one of those groups (or of a group tied with the last). ``best_baseline`` is the best
    estimate among the ``n_baselines`` baseline rows every searcher evaluates first (``None`` without baselines).
    """

    best: float
    top1: float
    top5: float
    relu: float | None
    n: int
    best_baseline: float | None = None
    n_baselines: int = 0

    @classmethod
    def from_oracle(cls, oracle: TableOracle, relu_row: int | None, baseline_rows: list[int] | None = None
                    ) -> TableReference:
        truth = oracle.truth
        reps = np.unique(oracle.group)
        v = np.sort(truth[reps][np.isfinite(truth[reps])])[::-1]
        if v.size == 0:
            raise InvalidInputError("the table has no function with a finite val_accuracy")
        ranking = pd.DataFrame({"value": v})
        top = lambda frac: float(top_groups(ranking, frac)["value"].min())
        relu = None
        if relu_row is not None and np.isfinite(truth[relu_row]):
            relu = float(truth[relu_row])
        rows = list(baseline_rows or [])
        base = truth[rows] if rows else np.array([])
        best_base = float(np.max(base[np.isfinite(base)])) if np.isfinite(base).any() else None
        return cls(best=float(v[0]), top1=top(TOP_FRACTION), top5=top(0.05), relu=relu, n=int(v.size),
                   best_baseline=best_base, n_baselines=len(rows))


def best_so_far(values: np.ndarray) -> np.ndarray:
    """Running maximum along the last axis, ignoring NaN (NaN until the first finite value)."""
    v = np.where(np.isfinite(values), values, -np.inf)
    out = np.maximum.accumulate(v, axis=-1)
    return np.where(np.isfinite(out), out, np.nan)


def incumbent_test(objective: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Test accuracy of the incumbent (first evaluation with the best validation accuracy so far)."""
    v = np.where(np.isfinite(objective), objective, -np.inf)
    out = np.full(objective.shape, np.nan)
    for s in range(v.shape[0]):
        best, inc = -np.inf, np.nan
        for i in range(v.shape[1]):
            if v[s, i] > best:
                best, inc = v[s, i], test[s, i]
            out[s, i] = inc
    return out


def mean_ci(x: np.ndarray, axis: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student-t confidence interval over ``axis`` (NaN-aware; NaN bounds with fewer than two values)."""
    from scipy.stats import t

    x = np.asarray(x, dtype=np.float64)
    n = np.sum(np.isfinite(x), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(x, axis=axis) / n
        sd = np.sqrt(np.nansum((x - np.expand_dims(mean, axis)) ** 2, axis=axis) / (n - 1))
        half = t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    mean = np.where(n >= 1, mean, np.nan)
    return mean, mean - half, mean + half


def evals_to(best: np.ndarray, threshold: float, *, strict: bool = False) -> np.ndarray:
    """1-based number of evaluations until the best-so-far reaches ``threshold`` (> if ``strict``); inf if never."""
    hit = best > threshold if strict else best >= threshold
    hit = np.where(np.isfinite(best), hit, False)
    first = np.argmax(hit, axis=-1).astype(np.float64) + 1
    return np.where(hit.any(axis=-1), first, np.inf)


def evals_after_baselines(best: np.ndarray, n_baselines: int, best_baseline: float) -> np.ndarray:
    """Evaluations after the first ``n_baselines`` until the best-so-far strictly exceeds ``best_baseline``.

    0 if it already does after ``n_baselines`` evaluations (a searcher that does not start with the baselines), inf
    if never within the budget. Unlike "evaluations to beat ReLU" (fixed by the baseline order when the baselines
    come first), this depends only on what the searcher chose itself.
    """
    t = evals_to(best, best_baseline, strict=True)
    return np.maximum(t - n_baselines, 0.0)


def ci_design(map_seeds: np.ndarray | None, n_runs: int) -> dict[str, Any]:
    """How the confidence intervals of ``n_runs`` runs are formed, given the map seed of each run (-1: no map).

    Returns ``{"unit", "runs", "maps", "method"}``: ``unit`` is ``"run"`` (independent runs: every run has its
    own map or uses none), ``"map"`` (several runs share each map: clustered by map) or ``"runs-on-one-map"``.
    """
    seeds = np.full(n_runs, -1) if map_seeds is None else np.asarray(map_seeds)
    if (seeds < 0).all():
        return {"unit": "run", "runs": n_runs, "maps": 0,
                "method": f"over {n_runs} independent runs (no map)"}
    k = int(np.unique(seeds).size)
    if k == n_runs:
        return {"unit": "run", "runs": n_runs, "maps": k,
                "method": f"over {n_runs} independent runs, each with its own map"}
    if k == 1:
        return {"unit": "runs-on-one-map", "runs": n_runs, "maps": 1,
                "method": f"over {n_runs} runs on one shared map: conditional on that map, map-to-map variation "
                          f"not included"}
    return {"unit": "map", "runs": n_runs, "maps": k,
            "method": f"cluster bootstrap over {k} maps ({n_runs} runs; the runs of a map resampled together)"}


def _groups(map_seeds: np.ndarray | None, n: int) -> np.ndarray | None:
    """Cluster labels when runs share maps (2 <= maps < runs), else None (runs treated as independent)."""
    design = ci_design(map_seeds, n)
    if design["unit"] != "map":
        return None
    return np.unique(np.asarray(map_seeds), return_inverse=True)[1]


def grouped_median_ci(x: np.ndarray, groups: np.ndarray, level: float = 0.95, n_boot: int = 2000,
                      seed: int = 0) -> dict[str, Any]:
    """Median of ``x`` with a cluster-bootstrap percentile CI (clusters ``groups`` resampled with replacement).

    Same output as :func:`median_ci`; ``inf`` entries are censored runs (a bound on one is ``None``).
    """
    x = np.asarray(x, dtype=np.float64)
    labels = np.unique(groups)
    members = [x[groups == g] for g in labels]
    rng = np.random.default_rng(seed)
    meds = np.empty(n_boot)
    for i in range(n_boot):
        pick = rng.integers(labels.size, size=labels.size)
        meds[i] = np.median(np.concatenate([members[j] for j in pick]))
    lo, hi = np.quantile(meds, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    conv = lambda v: float(v) if math.isfinite(v) else None
    return {"median": conv(float(np.median(x))), "ci95": [conv(lo), conv(hi)],
            "found_fraction": float(np.mean(np.isfinite(x)))}


def grouped_mean_ci(x: np.ndarray, groups: np.ndarray, level: float = 0.95
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs and a Student-t CI over the cluster means (one value per map), along axis 0."""
    x = np.asarray(x, dtype=np.float64)
    labels = np.unique(groups)
    cluster_means = np.stack([np.nanmean(x[groups == g], axis=0) for g in labels])
    _, lo, hi = mean_ci(cluster_means, axis=0, level=level)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(x, axis=0)
    return mean, lo, hi


def unit_median_ci(x: np.ndarray, map_seeds: np.ndarray | None) -> dict[str, Any]:
    """:func:`median_ci` over independent runs, or :func:`grouped_median_ci` over maps when runs share maps
    (:func:`ci_design`); the result says which (``ci_over``).

    Examples
    --------
    >>> x = np.arange(20.0)
    >>> unit_median_ci(x, None)["ci_over"], unit_median_ci(x, np.arange(20) % 4)["ci_over"]
    ('over 20 independent runs (no map)', 'cluster bootstrap over 4 maps (20 runs; the runs of a map resampled together)')
    """
    x = np.asarray(x, dtype=np.float64)
    groups = _groups(map_seeds, x.size)
    out = median_ci(x) if groups is None else grouped_median_ci(x, groups)
    out["ci_over"] = ci_design(map_seeds, x.size)["method"]
    return out


def median_ci(x: np.ndarray, level: float = 0.95) -> dict[str, Any]:
    """Median with a distribution-free CI (binomial order statistics); ``inf`` entries are censored runs.

    Returns ``{"median", "ci95": [low, high], "found_fraction"}`` where a bound or median that falls on a censored
    run (the quantity was not reached within the budget) is ``None``.
    """
    from scipy.stats import binom

    x = np.sort(np.asarray(x, dtype=np.float64))
    n = x.size
    med = float(np.median(x)) if n else math.nan
    # largest j with P(B < j) <= (1-level)/2, B ~ Bin(n, 1/2): [x_(j), x_(n-j+1)] covers the median w.p. >= level
    j = 0
    while j + 1 <= n and binom.cdf(j, n, 0.5) <= (1 - level) / 2:
        j += 1
    lo = x[j - 1] if j >= 1 else -math.inf
    hi = x[n - j] if j >= 1 else math.inf
    conv = lambda v: float(v) if math.isfinite(v) else None
    return {"median": conv(med), "ci95": [conv(lo), conv(hi)],
            "found_fraction": float(np.mean(np.isfinite(x))) if n else math.nan}


def curve_vs_time(result: ReplayResult, grid: np.ndarray) -> np.ndarray:
    """Best-so-far validation accuracy at each simulated time of ``grid``, shape (n_seeds, len(grid))."""
    best = best_so_far(result.objective)
    out = np.full((best.shape[0], grid.size), np.nan)
    for s in range(best.shape[0]):
        t = result.time[s]
        ok = np.isfinite(t)
        idx = np.searchsorted(t[ok], grid, side="right") - 1
        vals = best[s][ok]
        out[s] = np.where(idx >= 0, vals[np.clip(idx, 0, None)] if vals.size else np.nan, np.nan)
    return out


def summarize(result: ReplayResult, ref: TableReference) -> dict[str, Any]:
    """The per-algorithm block of the replay summary JSON (CIs formed as :func:`ci_design` says)."""
    best = best_so_far(result.objective)
    n = best.shape[0]
    groups = _groups(result.map_seeds, n)
    if groups is None:
        mean, lo, hi = mean_ci(best)
        med = median_ci
    else:
        mean, lo, hi = grouped_mean_ci(best, groups)
        med = lambda v: grouped_median_ci(v, groups)
    inc = incumbent_test(result.objective, result.test)
    final_test = inc[:, -1]
    if groups is None:
        ft_mean, ft_lo, ft_hi = mean_ci(final_test)
    else:
        ft_mean, ft_lo, ft_hi = grouped_mean_ci(final_test, groups)
    regret = ref.best - best
    distinct = len({r.tobytes() for r in np.asarray(result.rows)})
    out: dict[str, Any] = {
        "mean_best": mean.tolist(),
        "ci95": [[float(a), float(b)] for a, b in zip(lo, hi)],
        "evals_to_top1pct": med(evals_to(best, ref.top1)),
        "evals_to_top5pct": med(evals_to(best, ref.top5)),
        "evals_to_beat_baselines": (med(evals_after_baselines(best, ref.n_baselines, ref.best_baseline))
                                    if ref.best_baseline is not None
                                    else {"median": None, "ci95": [None, None], "found_fraction": None}),
        "final_test_accuracy": float(ft_mean),
        "final_test_accuracy_ci95": [float(ft_lo), float(ft_hi)],
        "final_val_accuracy": float(np.nanmean(best[:, -1])),
        "final_regret": float(np.nanmean(regret[:, -1])),
        "mean_regret": np.nanmean(regret, axis=0).tolist(),
        "auc": float(np.nanmean(np.nanmean(best, axis=1))),
        "ci": {**ci_design(result.map_seeds, n), "distinct_trajectories": distinct},
        "seconds": float(result.seconds),
    }
    if result.quality:
        out["surrogate_quality"] = {
            str(c): {m: float(np.nanmean(v)) if np.isfinite(v).any() else None for m, v in q.items()}
            for c, q in result.quality.items()}
        out["surrogate_quality_k"] = result.precision_k
    return out
