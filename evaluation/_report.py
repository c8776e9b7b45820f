"""Run several searchers against one table and write the summary JSON and figures (``act-bench replay``)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.search import RANDOM_POOLS, CandidateSet, list_searchers, searcher_info
from act_bench.space import BASELINE_FUNCTIONS
from act_bench.utils import atomic_write_text, to_jsonable
from evaluation._baselines import exact_random_search, fair_baselines
from evaluation._metrics import TableReference, best_so_far, curve_vs_time, mean_ci, summarize
from evaluation._plots import plot_search_curves
from evaluation._replay import replay_grid
from evaluation._results import ReplayResult, TableOracle, check_observe

__all__ = ["SCORED_ON", "compare", "exact_random_baselines", "write_summary"]

#: What every replay summary is scored on (stated in the summary beside ``observe``).
SCORED_ON = ("best estimate by twin group: the mean validation (test) accuracy of all runs of the function's twin "
             "group; the top 1 % is act_bench.tables.top_groups of that ranking")


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


def compare(table: Any, algorithms: Sequence[str], *, evals: int, seeds: int | Sequence[int], workers: int = 1,
            out_dir: str | os.PathLike | None = None, table_name: str = "", n_jobs: int = 1,
            searcher_kwargs: dict[str, dict] | None = None, progress=None, baselines: bool = True,
            observe: str = "median", map_progress=None, figure_stem: str = "search_curves"
            ) -> tuple[dict[str, Any], dict]:
    """Replay every algorithm on ``table``; return ``(summary, {name: ReplayResult})`` and write PNGs to ``out_dir``
    (:func:`write_figures`, named ``figure_stem``; their titles name the observation model unless it is the median).

    ``observe`` (``"median"``, the paper's protocol, or ``"run"``) is what the searchers are told; every score is the
    table's best estimate by twin group (:func:`evaluation.replay`). ``map_progress(done, total)`` follows the UMAP
    maps computed before the replays (:func:`evaluation.replay_grid`).

    With ``baselines`` (default), the fair baselines are replayed too (:func:`evaluation.fair_baselines`: random
    search over all functions and within the pool of every feature set an algorithm chooses from; listed in
    ``summary["baselines"]``), and ``summary["exact_random"]`` holds the exact distributions of random search's
    evaluations-to-target for the same pools (:func:`exact_random_baselines`).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> names = [f"f{i}" for i in range(30)]
    >>> df = pd.DataFrame({"function": names, "equivalents": [[n] for n in names],
    ...                    "outputs": list(np.eye(30, dtype=np.float32)), "val_accuracy": np.linspace(0, 1, 30),
    ...                    "test_accuracy": np.linspace(0, 1, 30), "runtime": np.ones(30)})
    >>> summary, _ = compare(df, ["random"], evals=10, seeds=3)
    >>> sorted(summary["algorithms"]["random"])[:3]
    ['auc', 'ci', 'ci95']
    >>> summary["exact_random"]["random"]["evals_to_top1pct"]["mean"]   # 1 of 30 in the top 1%: (30 + 1) / 2
    15.5
    """
    algos, added, candidates, oracle, ref = _replay_setup(table, algorithms, baselines)
    summary: dict[str, Any] = {
        "table": table_name, "evals": int(evals), "seeds": seeds if isinstance(seeds, int) else len(seeds),
        "workers": int(workers), "n_functions": len(candidates), "n_twin_groups": candidates.n_groups,
        "observe": check_observe(observe, "compare"), "scored_on": SCORED_ON,
        "reference": {"best_val_accuracy": ref.best, "top1pct_threshold": ref.top1, "top5pct_threshold": ref.top5,
                      "relu_val_accuracy": ref.relu, "n_finite": ref.n, "best_baseline_val_accuracy": ref.best_baseline,
                      "n_baselines": ref.n_baselines},
        "baselines": added,
        "algorithms": {},
    }
    results = replay_grid(algos + added, table, evals, seeds, workers, searcher_kwargs=searcher_kwargs,
                          n_jobs=n_jobs, progress=progress, observe=observe, map_progress=map_progress)
    for name in algos + added:
        summary["algorithms"][name] = summarize(results[name], ref)
    if baselines:
        pools = [None] + [f for f in ("fim", "outputs", "both")
                          if any(searcher_info(a).features == f for a in algos + added)]
        summary["exact_random"] = exact_random_baselines(candidates, oracle, ref, pools, int(evals))
    if out_dir is not None:
        write_figures(results, ref, out_dir, workers=workers, stem=figure_stem, table=table_name,
                      title_note="" if observe == "median" else f", observe {observe}")
    return summary, results


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
