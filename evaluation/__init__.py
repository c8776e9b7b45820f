"""Replay of searchers against benchmark tables, metrics, surrogate scoring, figures and reports.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from evaluation import replay
>>> names = [f"f{i}" for i in range(20)]
>>> df = pd.DataFrame({"function": names, "equivalents": [[n] for n in names],
...                    "outputs": list(np.eye(20, dtype=np.float32)), "val_accuracy": np.linspace(0, 1, 20),
...                    "test_accuracy": np.linspace(0, 1, 20), "runtime": np.ones(20)})
>>> run = replay(df, ["random", "evolution"], budget=20, seeds=3)
>>> run.summary()["algorithms"]["random"]["evals_to_top1pct"]["found_fraction"]
1.0
>>> run.result("random").objective.shape
(3, 20)

:func:`replay` is the one replay entry point (one or several tables, one or several algorithms, full fidelity or a
scheduler, cold or warm-started); it returns a :class:`Replay`. The functions it replaced (``replay_grid``,
``replay_multifidelity``, ``compare``, ``compare_multifidelity``, ``warm_start_replay``, and the call form
``replay(searcher, table, budget, seeds)``) still work for one release and warn (:mod:`evaluation._deprecated`).
"""

from __future__ import annotations

from typing import Any

from evaluation._api import Replay, ReplaySettings, WarmStart, replay
from evaluation._baselines import EvalsDistribution, exact_random_search, fair_baselines, fair_verdicts
from evaluation._curves import CURVE_COLUMNS, DEFAULT_CURVES, CurveColumns, LearningCurves, learning_curves
from evaluation._figures import eigenvalue_figure, map_figure
from evaluation._metrics import (
    TableReference,
    best_so_far,
    ci_design,
    curve_vs_time,
    evals_after_baselines,
    evals_to,
    incumbent_test,
    mean_ci,
    median_ci,
    summarize,
    unit_median_ci,
)
from evaluation._plots import eigenvalue_density, plot_eigenvalue_distributions, plot_map, plot_search_curves
from evaluation._replay import (
    DEFAULT_CHECKPOINTS,
    SearcherFactory,
    WarmStartFactory,
    compute_maps,
)
from evaluation._report import exact_random_baselines, write_figures, write_summary
from evaluation._results import OBSERVE, Observations, ReplayResult, TableOracle
from evaluation._schedulers import MultiFidelityResult, SchedulerKind, rung_epochs
from evaluation._study import (
    AlignedTables,
    align_tables,
    rank_correlations,
    surrogate_transfer,
    top_functions,
    top_overlap,
)
from evaluation._suite import (
    RANK_METRICS,
    average_ranks,
    per_seed_scores,
    same_pools,
    seed_clusters,
    simulated_seconds,
)

__all__ = [
    "CURVE_COLUMNS",
    "DEFAULT_CHECKPOINTS",
    "DEFAULT_CURVES",
    "OBSERVE",
    "RANK_METRICS",
    "AlignedTables",
    "CurveColumns",
    "EvalsDistribution",
    "LearningCurves",
    "MultiFidelityResult",
    "Observations",
    "Replay",
    "ReplayResult",
    "ReplaySettings",
    "SchedulerKind",
    "SearcherFactory",
    "TableOracle",
    "TableReference",
    "WarmStart",
    "WarmStartFactory",
    "align_tables",
    "average_ranks",
    "best_so_far",
    "ci_design",
    "compute_maps",
    "curve_vs_time",
    "eigenvalue_density",
    "eigenvalue_figure",
    "evals_after_baselines",
    "evals_to",
    "exact_random_baselines",
    "exact_random_search",
    "fair_baselines",
    "fair_verdicts",
    "incumbent_test",
    "learning_curves",
    "map_figure",
    "mean_ci",
    "median_ci",
    "per_seed_scores",
    "plot_eigenvalue_distributions",
    "plot_map",
    "plot_search_curves",
    "rank_correlations",
    "replay",
    "rung_epochs",
    "same_pools",
    "seed_clusters",
    "simulated_seconds",
    "summarize",
    "surrogate_transfer",
    "top_functions",
    "top_overlap",
    "unit_median_ci",
    "write_figures",
    "write_summary",
]


def __getattr__(name: str) -> Any:
    """The replay functions :func:`replay` replaced, for one release (each warns when called)."""
    from evaluation._deprecated import DEPRECATED

    if name in DEPRECATED:
        return DEPRECATED[name]
    raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
