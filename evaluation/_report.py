"""What a replay summary is made of (the reference, the exact random-search baselines) and how its JSON and figures
are written (``act-bench replay``; the replay itself is :func:`evaluation.replay`)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.search import RANDOM_POOLS, CandidateSet, list_searchers
from act_bench.space import BASELINE_FUNCTIONS
from act_bench.utils import atomic_write_text, to_jsonable
from evaluation._baselines import exact_random_search, fair_baselines
from evaluation._metrics import TableReference, best_so_far, curve_vs_time, mean_ci
from evaluation._plots import plot_search_curves
from evaluation._results import ReplayResult, TableOracle

__all__ = ["SCORED_ON", "exact_random_baselines", "reference_block", "write_figures", "write_summary"]

#: What every replay summary is scored on (stated in the summary beside ``observe``).
SCORED_ON = ("best estimate by twin group: the mean validation (test) accuracy of all runs of the function's twin "
             "group; the top 1 % is act_bench.tables.top_groups of that ranking")


def reference_block(ref: TableReference) -> dict[str, Any]:
    """The ``reference`` block of a replay summary: the table's thresholds and baselines."""
    return {"best_val_accuracy": ref.best, "top1pct_threshold": ref.top1, "top5pct_threshold": ref.top5,
            "relu_val_accuracy": ref.relu, "n_finite": ref.n, "best_baseline_val_accuracy": ref.best_baseline,
            "n_baselines": ref.n_baselines}


def _replay_setup(table, algorithms: Sequence[str], baselines: bool):
    """What every comparison starts from: the checked algorithms, the fair random baselines they add, the table's
    candidates, its oracle and the reference (ReLU and the baselines)."""
    algos = _check_algorithms(algorithms)
    added = [b for b in fair_baselines(algos) if b not in algos] if baselines else []
    candidates = CandidateSet.from_table(table)
    oracle = TableOracle.from_table(table)
    ref = TableReference.from_oracle(oracle, candidates.index_of("relu(x)"),
                                     candidates.indices_of(BASELINE_FUNCTIONS))
    return algos, added, candidates, oracle, ref


def _check_algorithms(algorithms: Sequence[str]) -> list[str]:
    algos = [a.strip() for a in algorithms if a.strip()]
    if not algos:
        raise InvalidInputError("at least one algorithm is required, e.g. random,knr:both")
    valid = list_searchers()
    bad = [a for a in algos if a not in valid]
    if bad:
        raise InvalidInputError(f"unknown algorithm(s) {', '.join(map(repr, bad))}; valid algorithms: "
                                f"{', '.join(valid)}")
    if len(set(algos)) != len(algos):
        raise InvalidInputError(f"algorithms are listed twice: {', '.join(algos)}")
    return algos


def exact_random_baselines(candidates: CandidateSet, oracle: TableOracle, ref: TableReference,
                           pools: Sequence[str | None], budget: int) -> dict[str, Any]:
    """Exact distributions (order statistics) of random search's evaluations to the top 1%, the top 5% and to beat
    the best baseline, for random search over all functions (pool ``None``, name ``random``) and within each pool
    (feature set ``fim``/``outputs``/``both``, names ``random:fim-valid`` ...), baselines first.

    Random search draws uniformly among the twin groups (``RandomSearcher``), so the draws are over groups: a group
    is in a pool when one of its rows is, hits when its best estimate reaches the target, and a baseline removes its
    group."""
    group = candidates.twin_group
    reps, pos = np.unique(group, return_inverse=True)      # pos: the group position of every row
    first_rows = candidates.indices_of(BASELINE_FUNCTIONS)
    first = list(dict.fromkeys(int(pos[r]) for r in first_rows))
    val = oracle.truth[reps]
    finite = np.isfinite(val)
    out: dict[str, Any] = {}
    for pool in pools:
        mask = None
        if pool is not None:
            mask = np.zeros(reps.size, dtype=bool)
            mask[pos[candidates.feature_valid(pool)]] = True
        name = "random" if pool is None else f"random:{RANDOM_POOLS[pool]}"
        block: dict[str, Any] = {}
        for key, thr in (("evals_to_top1pct", ref.top1), ("evals_to_top5pct", ref.top5)):
            block[key] = exact_random_search(finite & (val >= thr), first, mask).summary(budget)
        if ref.best_baseline is not None:
            beat = finite & (val > ref.best_baseline)
            block["evals_to_beat_baselines"] = exact_random_search(beat, first, mask, count_first=False).summary(
                budget - len(first))
        out[name] = block
    return out


def write_figures(results: dict[str, ReplayResult], ref: TableReference, out_dir: str | os.PathLike, *,
                  workers: int = 1, stem: str = "search_curves", title_note: str = "", table: str = "") -> list[Path]:
    """``{stem}.png`` (vs evaluations) and, with simulated workers, ``{stem}_time.png``; the titles name ``table``
    (when given) and end with ``title_note`` (e.g. the observation model)."""
    out = Path(out_dir)
    refs = {"top 1%": ref.top1, "ReLU": ref.relu}
    curves = {n: mean_ci(best_so_far(r.objective)) for n, r in results.items()}
    n_seeds = max(r.objective.shape[0] for r in results.values())
    on = f"{table}: " if table else ""
    paths = [plot_search_curves(curves, out / f"{stem}.png", reference=refs,
                                title=f"{on}Best validation accuracy found so far ({n_seeds} seeds per searcher"
                                      f"{title_note})")]
    if workers > 1:
        tmax = max(float(np.nanmax(r.time)) for r in results.values())
        grid = np.linspace(0, tmax, 200)
        tcurves = {n: mean_ci(curve_vs_time(r, grid)) for n, r in results.items()}
        paths.append(plot_search_curves(tcurves, out / f"{stem}_time.png", x=grid,
                                        xlabel=f"Simulated time (s), {workers} workers", reference=refs,
                                        title=f"{on}Best validation accuracy found vs simulated time ({n_seeds} "
                                              f"seeds per searcher{title_note})"))
    return paths


def write_summary(summary: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the summary as JSON (NaN/inf become null) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(to_jsonable(summary), indent=1, allow_nan=False))
