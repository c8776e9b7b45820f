"""Replays over several tables and schedulers: multi-fidelity comparisons, simulated time used, and each
algorithm's average rank across tables with bootstrap confidence intervals (as HPO-B and YAHPO Gym report them).

Ranks: on every table, for every replay seed, the algorithms are ranked by ``rank_by`` (``evals_to_top1pct``:
fewer proposals until the best-so-far reaches the table's top 1 %, a run that never gets there ranks after every run
that does; ``final_val_accuracy``: higher best-so-far at the end). Ties share the average rank (``scipy.stats.rankdata``).
An algorithm's rank on a table is its mean over seeds; its average rank is the mean over tables. The 95 % interval is
the percentile bootstrap over the independent units of each table (resampled independently per table, the same
resampled units for every algorithm of a table, so the comparison stays paired): the seeds, or, when runs share UMAP
maps (``--maps N``, ``--embedding-seed``), the clusters of seeds that share a map in any algorithm
(:func:`seed_clusters`), resampled whole. A random-search pool that is the same set of functions as another's on
every table (``random:both-valid`` and ``random:fim-valid`` when every FIM-valid function has finite outputs) is one
baseline and is ranked once (:func:`same_pools`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.utils import check_int
from evaluation._curves import learning_curves
from evaluation._metrics import TableReference, best_so_far, evals_to, summarize
from evaluation._replay import _as_factory, _normalize_seeds, compute_maps
from evaluation._report import SCORED_ON, _replay_setup, write_figures
from evaluation._results import ReplayResult, check_observe
from evaluation._schedulers import replay_multifidelity

__all__ = ["RANK_METRICS", "average_ranks", "compare_multifidelity", "per_seed_scores", "same_pools", "seed_clusters",
           "simulated_seconds"]

#: Metrics the cross-table ranks can use: name -> True when larger is better.
RANK_METRICS = {"evals_to_top1pct": False, "final_val_accuracy": True}


def simulated_seconds(result: ReplayResult) -> dict[str, float]:
    """Simulated seconds a replay used per seed (clock of its last reported evaluation): mean, median, max.

    Examples
    --------
    >>> import numpy as np
    >>> r = ReplayResult("x", [0, 1], np.zeros((2, 2), int), np.zeros((2, 2)), np.zeros((2, 2)),
    ...                  np.array([[1.0, 3.0], [2.0, np.nan]]))
    >>> simulated_seconds(r)
    {'mean': 2.5, 'median': 2.5, 'max': 3.0}
    """
    used = getattr(result, "simulated_seconds", None)
    if used is None or len(used) != len(result.seeds):
        t = np.where(np.isfinite(result.time), result.time, -np.inf)
        used = np.maximum(t.max(axis=1), 0.0) if t.size else np.zeros(len(result.seeds))
    used = np.asarray(used, dtype=np.float64)
    return {"mean": float(used.mean()), "median": float(np.median(used)), "max": float(used.max())}


def compare_multifidelity(table: Any, algorithms: Sequence[str], *, scheduler: str, evals: int | None = None,
                          time_budget: float | None = None, seeds: int | Sequence[int] = 10, workers: int = 1,
                          eta: int = 3, min_epochs: int = 1, table_name: str = "",
                          searcher_kwargs: Mapping[str, dict] | None = None,
                          out_dir: str | os.PathLike | None = None, progress=None, baselines: bool = True,
                          observe: str = "median", n_jobs: int = 1, map_progress=None
                          ) -> tuple[dict[str, Any], dict[str, ReplayResult]]:
    """Replay every algorithm under ``scheduler`` on ``table``; the summary has the blocks of
    :func:`evaluation.compare` plus, per algorithm, ``simulated_seconds``, ``proposals`` and ``completed`` (mean
    per seed), and the scheduler settings. With ``baselines`` (default) the fair random baselines
    (:func:`evaluation.fair_baselines`) run under the same scheduler and budget; the exact order-statistics values of
    :func:`evaluation.compare` count full evaluations and are not given here. ``observe``: what the scheduler and
    the searchers see (:func:`evaluation.replay_multifidelity`); scores are the best estimates either way. The UMAP
    maps the surrogates need are computed first over ``n_jobs`` processes (``map_progress(done, total)`` follows
    them, :func:`evaluation.compute_maps`); the scheduled replays then run in this process.

    Examples
    --------
    >>> from evaluation._synthetic import synthetic_table
    >>> s, _ = compare_multifidelity(synthetic_table(60, epochs=9), ["random"], scheduler="asha", time_budget=600,
    ...                              seeds=2, workers=2)
    >>> s["scheduler"]["rungs"], s["algorithms"]["random"]["simulated_seconds"]["max"] <= 600, s["baselines"]
    ([1, 3, 9], True, [])
    """
    algos, added, candidates, oracle, ref = _replay_setup(table, algorithms, baselines)
    try:
        curves = learning_curves(table, oracle)
    except InvalidInputError:
        if scheduler != "none":
            raise
        curves = None
    summary: dict[str, Any] = {
        "table": table_name, "evals": evals, "time_budget": time_budget,
        "seeds": seeds if isinstance(seeds, int) else len(seeds), "workers": int(workers),
        "n_functions": len(candidates), "n_twin_groups": candidates.n_groups,
        "observe": check_observe(observe, "compare_multifidelity"), "scored_on": SCORED_ON,
        "reference": {"best_val_accuracy": ref.best, "top1pct_threshold": ref.top1, "top5pct_threshold": ref.top5,
                      "relu_val_accuracy": ref.relu, "n_finite": ref.n, "best_baseline_val_accuracy": ref.best_baseline,
                      "n_baselines": ref.n_baselines},
        "baselines": added,
        "scheduler": {"name": scheduler, "eta": eta, "min_epochs": min_epochs}, "algorithms": {},
    }
    results: dict[str, ReplayResult] = {}
    factories = {a: _as_factory(a, (searcher_kwargs or {}).get(a)) for a in algos + added}
    compute_maps(candidates, factories, _normalize_seeds(seeds), n_jobs=check_int(n_jobs, "n_jobs",
                 "compare_multifidelity", min_value=1), progress=map_progress)
    for a in algos + added:
        res = replay_multifidelity(a, table, scheduler=scheduler, evals=evals, time_budget=time_budget, seeds=seeds,
                                   workers=workers, eta=eta, min_epochs=min_epochs,
                                   searcher_kwargs=(searcher_kwargs or {}).get(a), candidates=candidates,
                                   oracle=oracle, curves=curves, name=a, observe=observe)
        results[a] = res
        with warnings.catch_warnings():  # columns past the shortest seed's last entry are all NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            block = summarize(res, ref)
        block["simulated_seconds"] = simulated_seconds(res)
        block["proposals"] = float(np.mean((res.rows >= 0).sum(axis=1)))
        block["completed"] = float(np.mean(np.isfinite(res.objective).sum(axis=1)))
        summary["algorithms"][a] = block
        summary["scheduler"]["rungs"] = res.rungs
        if progress is not None:
            progress(a, res)
    if out_dir is not None:
        write_figures(results, ref, out_dir, workers=max(workers, 2), table=table_name)
    return summary, results


def per_seed_scores(result: ReplayResult, ref: TableReference, rank_by: str) -> np.ndarray:
    """One score per seed for the cross-table ranks (see the module docstring), shape (n_seeds,)."""
    if rank_by not in RANK_METRICS:
        raise InvalidInputError(f"parameter rank_by must be one of {', '.join(RANK_METRICS)}; got {rank_by!r}")
    best = best_so_far(result.objective)
    if rank_by == "evals_to_top1pct":
        return evals_to(best, ref.top1)
    last = np.where(np.isfinite(best), best, -np.inf).max(axis=1) if best.size else np.full(len(result.seeds),
                                                                                           -np.inf)
    return last


def seed_clusters(results: Mapping[str, ReplayResult]) -> np.ndarray:
    """The independent units of one table's replays: a label per seed, equal for seeds whose runs share a UMAP map
    in any algorithm (joined transitively); every seed its own unit when no map is shared.

    Examples
    --------
    >>> import numpy as np
    >>> mk = lambda m: ReplayResult("x", [0, 1, 2, 3], np.zeros((4, 1), int), np.zeros((4, 1)), np.zeros((4, 1)),
    ...                             np.zeros((4, 1)), map_seeds=np.array(m))
    >>> seed_clusters({"a": mk([0, 1, 0, 1]), "random": mk([-1, -1, -1, -1])}).tolist()
    [0, 1, 0, 1]
    >>> seed_clusters({"a": mk([0, 1, 2, 3])}).tolist()
    [0, 1, 2, 3]
    """
    results = list(results.values())
    n = len(results[0].seeds) if results else 0
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for r in results:
        if r.map_seeds is None:
            continue
        first: dict[int, int] = {}
        for i, m in enumerate(np.asarray(r.map_seeds)[:n]):
            if m < 0:
                continue
            j = first.setdefault(int(m), i)
            parent[find(i)] = find(j)
    roots = [find(i) for i in range(n)]
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)


def same_pools(candidate_sets: Sequence[Any], algorithms: Sequence[str]) -> dict[str, str]:
    """Random-search baselines among ``algorithms`` whose pool is the same set of functions as an earlier one's on
    every table (``candidate_sets``, one ``CandidateSet`` per table): ``{duplicate: the one kept}``.

    Examples
    --------
    >>> import numpy as np
    >>> from act_bench.search import CandidateSet
    >>> cs = CandidateSet(["a", "b"], outputs=np.ones((2, 3), np.float32), fim_cdf=np.ones((2, 2), np.float32))
    >>> same_pools([cs], ["knr:fim", "random:fim-valid", "random:both-valid"])
    {'random:both-valid': 'random:fim-valid'}
    """
    from act_bench.search import RANDOM_POOLS

    by_name = {f"random:{v}": k for k, v in RANDOM_POOLS.items()}
    pools = [a for a in algorithms if a in by_name]
    out: dict[str, str] = {}
    for i, a in enumerate(pools):
        for b in pools[:i]:
            if b in out:
                continue
            if all(np.array_equal(c.feature_valid(by_name[a]), c.feature_valid(by_name[b])) for c in candidate_sets):
                out[a] = b
                break
    return out


def average_ranks(scores: Mapping[str, Mapping[str, np.ndarray]], *, higher_is_better: bool = False,
                  n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                  clusters: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Average rank of each algorithm across tables with a paired percentile-bootstrap CI over the independent units
    of each table (seeds, or the ``clusters`` of seeds that share a map).

    Parameters
    ----------
    scores : mapping
        ``{table: {algorithm: per-seed scores (n_seeds,)}}``; every table lists the same algorithms, and within a
        table every algorithm has the same number of seeds (seed ``i`` of one algorithm is paired with seed ``i``
        of the others). ``inf``/``-inf`` are allowed (never reached).
    higher_is_better : bool
        Rank 1 goes to the largest score when True, to the smallest otherwise.
    clusters : mapping, optional
        ``{table: label per seed}`` (:func:`seed_clusters`): seeds with one label are resampled together. Default:
        every seed its own unit.

    Returns
    -------
    dict
        ``{"algorithms": {name: {"mean_rank", "ci95": [lo, hi], "per_table": {table: rank}}}, "n_boot", "level",
        "units": {table: {"unit": "seed"|"map", "n": count}}, "ci_over"}`` (``ci_over``: the units, in words).

    Examples
    --------
    >>> import numpy as np
    >>> s = {"t1": {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])},
    ...      "t2": {"a": np.array([5.0, 1.0]), "b": np.array([2.0, 2.0])}}
    >>> average_ranks(s, n_boot=10)["algorithms"]["a"]["mean_rank"]
    1.25
    """
    from scipy.stats import rankdata

    n_boot = check_int(n_boot, "n_boot", "average_ranks", min_value=1)
    if not scores:
        raise InvalidInputError("parameter scores of average_ranks must name at least one table; got none")
    tables = list(scores)
    algos = list(scores[tables[0]])
    if not algos:
        raise InvalidInputError("parameter scores of average_ranks must list at least one algorithm per table")
    per_table_ranks = {}
    for t in tables:
        if list(scores[t]) != algos:
            raise InvalidInputError(f"table {t!r} lists algorithms {list(scores[t])}; every table must list "
                                    f"{algos} in that order")
        mat = np.stack([np.asarray(scores[t][a], dtype=np.float64) for a in algos])  # (algos, seeds)
        if np.isnan(mat).any():
            raise InvalidInputError(f"scores of table {t!r} contain NaN; use inf for 'never reached'")
        per_table_ranks[t] = rankdata(-mat if higher_is_better else mat, axis=0)  # rank per seed, 1 = best
    mean_rank = np.mean([r.mean(axis=1) for r in per_table_ranks.values()], axis=0)
    members: dict[str, list[np.ndarray]] = {}
    units: dict[str, dict[str, Any]] = {}
    for t, r in per_table_ranks.items():
        labels = np.arange(r.shape[1]) if clusters is None or clusters.get(t) is None else np.asarray(clusters[t])
        if labels.shape != (r.shape[1],):
            raise InvalidInputError(f"clusters of table {t!r} must give one label per seed ({r.shape[1]}); got "
                                    f"{labels.shape[0]}")
        uniq, inverse = np.unique(labels, return_inverse=True)
        members[t] = [np.flatnonzero(inverse == k) for k in range(uniq.size)]
        units[t] = {"unit": "seed" if uniq.size == r.shape[1] else "map", "n": int(uniq.size)}
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(algos)))
    for b in range(n_boot):
        per = []
        for t, r in per_table_ranks.items():
            k = len(members[t])
            pick = rng.integers(0, k, size=k)
            idx = np.concatenate([members[t][j] for j in pick]) if k < r.shape[1] else pick
            per.append(r[:, idx].mean(axis=1))
        boot[b] = np.mean(per, axis=0)
    lo, hi = np.percentile(boot, [50 * (1 - level), 50 * (1 + level)], axis=0)
    kinds = {u["unit"] for u in units.values()}
    ci_over = ("seeds (independent runs)" if kinds == {"seed"} else
               "clusters of seeds that share a UMAP map (" + ", ".join(f"{t}: {u['n']} {u['unit']}s"
                                                              for t, u in units.items()) + ")")
    return {"algorithms": {a: {"mean_rank": float(mean_rank[i]), "ci95": [float(lo[i]), float(hi[i])],
                               "per_table": {t: float(per_table_ranks[t][i].mean()) for t in tables}}
                           for i, a in enumerate(algos)},
            "n_boot": n_boot, "level": level, "units": units, "ci_over": ci_over}
