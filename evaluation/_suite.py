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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.utils import check_int
from evaluation._metrics import TableReference, best_so_far, evals_to
from evaluation._results import ReplayResult

__all__ = ["RANK_METRICS", "average_ranks", "per_seed_scores", "same_pools", "seed_clusters", "simulated_seconds"]

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
