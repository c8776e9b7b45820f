"""Cross-table study: how the landscapes of several benchmark tables (e.g. the MNIST-1D suite's CNN, ResNet and ViT)
relate, and whether what was learned on one table helps on another.

* :func:`align_tables` matches the tables' functions by name (any equivalent spelling).
* :func:`rank_correlations`: Spearman and Kendall correlations of the accuracies of every pair of tables, over the
  functions with a finite accuracy in both (``all``) and over those whose status is ``ok`` in every table (``ok``).
* :func:`top_functions`: each table's best functions and their ranks in the others (rank 1 = best; ties share the
  best rank, i.e. 1 + the number of functions with a strictly higher accuracy).
* :func:`top_overlap`: the top 1 % of each table (the functions at or above its
  :class:`~evaluation.TableReference` ``top1`` threshold) and their pairwise overlap (counts, Jaccard index).
* :func:`surrogate_transfer`: a registered surrogate searcher on the target table is told the *source* table's
  accuracies of ``n`` random functions (:meth:`~act_bench.search.Searcher.warm_start`) and ranks the target's other
  functions; the same searcher told the *target's own* accuracies of the same ``n`` functions is the reference.
  Scored by Spearman and precision@k against the target's truth on the held-out functions, per seed; medians with
  distribution-free CIs over seeds (cluster bootstrap over maps when seeds share maps, ``seeds > n_maps``).
* :func:`warm_start_told`: what a warm-started replay (:func:`evaluation.replay` with ``warm_start=``) tells every
  searcher before it starts: the source's results (its top ``n`` or all).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.search import CandidateSet, create_searcher, embed_candidates, searcher_info, table_frame
from act_bench.tables import BenchmarkTable, group_ranking
from act_bench.utils import check_int
from evaluation._metrics import unit_median_ci

__all__ = ["AlignedTables", "align_tables", "rank_correlations", "surrogate_transfer", "top_functions",
           "top_overlap", "warm_start_told"]


@dataclass(frozen=True)
class AlignedTables:
    """Several tables' results on the functions they share, matched by name.

    Attributes
    ----------
    names : list of str
        Table names, in the order given.
    functions : list of str
        Shared functions (the first table's representative spelling, in its row order).
    accuracy : numpy.ndarray
        Shape (n_tables, n_shared): the metric (NaN: failed).
    ok : numpy.ndarray
        Shape (n_tables, n_shared): status ``ok`` (tables without a status column: finite metric).
    rows : numpy.ndarray
        Shape (n_tables, n_shared): row of each shared function in each table.
    """

    names: list[str]
    functions: list[str]
    accuracy: np.ndarray
    ok: np.ndarray
    rows: np.ndarray


def _named(tables: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    if isinstance(tables, Mapping):
        out = dict(tables)
    else:
        out = {}
        for i, t in enumerate(tables):
            name = getattr(t, "name", None) or f"table{i}"
            if name in out:
                name = f"{name}#{i}"
            out[name] = t
    if len(out) < 2:
        raise InvalidInputError(f"the study needs at least two tables; got {len(out)}")
    return out


def align_tables(tables: Mapping[str, Any] | Sequence[Any], *, metric: str = "val_accuracy") -> AlignedTables:
    """Match the functions of several tables by name (any spelling listed in ``equivalents``).

    When every table is a :class:`~act_bench.tables.BenchmarkTable`, a twin group counts once: one entry per twin
    group (its first shared function's spelling), valued by the group's pooled paper-protocol value in each table
    (:func:`act_bench.tables.group_ranking`).

    Parameters
    ----------
    tables : mapping of name to table, or sequence of tables
        ``BenchmarkTable`` objects or ``functions`` DataFrames (a sequence is named by ``table.name``).
    metric : str
        Column compared (default ``val_accuracy``, what searchers maximise).

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"function": ["relu(x)", "tanh(x)"], "equivalents": [["relu(x)"], ["tanh(x)"]],
    ...                   "outputs": [[0.0], [1.0]], "val_accuracy": [0.9, 0.8], "status": ["ok", "ok"]})
    >>> b = a.iloc[::-1].reset_index(drop=True)
    >>> align_tables({"a": a, "b": b}).rows.tolist()
    [[0, 1], [1, 0]]
    """
    named = _named(tables)
    frames = {}
    for name, t in named.items():
        frame, _ = table_frame(t, fim_layout=[])
        if metric not in frame.columns:
            raise InvalidInputError(f"table {name!r} has no column {metric!r}; it has "
                                    f"{', '.join(map(str, frame.columns))}")
        frames[name] = frame
    first = next(iter(frames.values()))
    index = []
    for frame in list(frames.values())[1:]:
        idx: dict[str, int] = {}
        for i, (f, eq) in enumerate(zip(frame["function"], frame["equivalents"])):
            idx.setdefault(str(f), i)
            for e in eq:
                idx.setdefault(str(e), i)
        index.append(idx)
    rows: list[list[int]] = []
    functions: list[str] = []
    for i, (f, eq) in enumerate(zip(first["function"], first["equivalents"])):
        spellings = [str(f), *map(str, eq)]
        hits = []
        for idx in index:
            hit = next((idx[s] for s in spellings if s in idx), None)
            if hit is None:
                break
            hits.append(hit)
        else:
            functions.append(str(f))
            rows.append([i, *hits])
    r = np.array(rows, dtype=np.int64).reshape(-1, len(frames)).T
    acc = np.stack([np.asarray(fr[metric], dtype=np.float64)[r[k]] for k, fr in enumerate(frames.values())])
    ok = np.stack([(np.asarray(fr["status"].astype(str)) == "ok")[r[k]] if "status" in fr.columns
                   else np.isfinite(acc[k]) for k, fr in enumerate(frames.values())]) & np.isfinite(acc)
    if all(isinstance(t, BenchmarkTable) for t in named.values()):
        return _by_twin_group(list(named.values()), list(frames), functions, r, metric)
    return AlignedTables(list(frames), functions, acc, ok, r)


def _by_twin_group(tables: list[Any], names: list[str], functions: list[str], rows: np.ndarray,
                   metric: str) -> AlignedTables:
    """One entry per twin group of the first table (its first shared row), valued by each table's pooled group
    value (``act_bench.tables.group_ranking``, the paper's protocol): a twin group counts once."""
    keep = []
    seen: set[int] = set()
    first_groups = tables[0].functions["twin_group"].to_numpy()
    for j, row in enumerate(rows[0]):
        g = int(first_groups[row])
        if g not in seen:
            seen.add(g)
            keep.append(j)
    keep_arr = np.array(keep, dtype=np.int64)
    rows = rows[:, keep_arr]
    acc = np.empty(rows.shape)
    ok = np.empty(rows.shape, dtype=bool)
    for k, t in enumerate(tables):
        ranking = group_ranking(t, metric).set_index("twin_group")
        groups = t.functions["twin_group"].to_numpy()[rows[k]]
        acc[k] = ranking["paper"].reindex(groups).to_numpy(dtype=np.float64)
        ok[k] = (ranking["status"].reindex(groups).to_numpy() == "ok") & np.isfinite(acc[k])
    return AlignedTables(names, [functions[j] for j in keep], acc, ok, rows)


def _rank_desc(values: np.ndarray) -> np.ndarray:
    """Competition rank (1 = best, ties share the best rank) among the finite values; NaN for non-finite."""
    finite = np.isfinite(values)
    v = values[finite]
    srt = np.sort(v)[::-1]
    out = np.full(values.shape, np.nan)
    out[finite] = np.searchsorted(-srt, -v, side="left") + 1
    return out


def _corr(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    from scipy.stats import kendalltau, spearmanr

    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"n": int(x.size), "spearman": None, "kendall": None}
    return {"n": int(x.size), "spearman": float(spearmanr(x, y)[0]), "kendall": float(kendalltau(x, y)[0])}


def rank_correlations(tables: Mapping[str, Any] | Sequence[Any] | AlignedTables, *,
                      metric: str = "val_accuracy") -> dict[str, Any]:
    """Spearman and Kendall (tau-b) correlations of every pair of tables' accuracies.

    Returns
    -------
    dict
        ``{"pairs": [{"a", "b", "all": {"n", "spearman", "kendall"}, "ok": {...}}], "n_shared", "n_ok_all"}``:
        ``all`` over the shared functions with a finite accuracy in both tables (diverged runs keep their
        chance-level accuracy), ``ok`` over the functions whose status is ``ok`` in every table.

    Examples
    --------
    >>> import pandas as pd
    >>> mk = lambda v: pd.DataFrame({"function": ["a(x)", "b(x)", "c(x)"], "equivalents": [[], [], []],
    ...                              "outputs": [[0.0]] * 3, "val_accuracy": v, "status": ["ok"] * 3})
    >>> rank_correlations({"p": mk([0.1, 0.2, 0.3]), "q": mk([0.3, 0.2, 0.1])})["pairs"][0]["all"]["spearman"]
    -1.0
    """
    al = tables if isinstance(tables, AlignedTables) else align_tables(tables, metric=metric)
    ok_all = al.ok.all(axis=0)
    pairs = []
    for i, j in itertools.combinations(range(len(al.names)), 2):
        x, y = al.accuracy[i], al.accuracy[j]
        both = np.isfinite(x) & np.isfinite(y)
        pairs.append({"a": al.names[i], "b": al.names[j], "all": _corr(x[both], y[both]),
                      "ok": _corr(x[ok_all], y[ok_all])})
    return {"pairs": pairs, "n_shared": len(al.functions), "n_ok_all": int(ok_all.sum())}


def top_functions(tables: Mapping[str, Any] | Sequence[Any] | AlignedTables, k: int = 5, *,
                  metric: str = "val_accuracy") -> dict[str, list[dict[str, Any]]]:
    """Each table's ``k`` best shared functions (status ``ok``, highest accuracy), plus every function tied with the
    ``k``-th (so a list may be longer than ``k``; ``"tie"`` marks a function whose accuracy equals another listed
    one's), with their competition rank and accuracy in every table (rank among the shared functions with a finite
    accuracy; ``None`` if failed there).

    Examples
    --------
    >>> import pandas as pd
    >>> mk = lambda v: pd.DataFrame({"function": ["a(x)", "b(x)", "c(x)"], "equivalents": [[], [], []],
    ...                              "outputs": [[0.0]] * 3, "val_accuracy": v, "status": ["ok"] * 3})
    >>> top = top_functions({"p": mk([0.1, 0.2, 0.3]), "q": mk([0.3, 0.2, 0.1])}, k=1)
    >>> top["p"][0]["function"], top["p"][0]["rank"]
    ('c(x)', {'p': 1, 'q': 3})
    """
    k = check_int(k, "k", "top_functions", min_value=1)
    al = tables if isinstance(tables, AlignedTables) else align_tables(tables, metric=metric)
    ranks = np.stack([_rank_desc(a) for a in al.accuracy])
    out: dict[str, list[dict[str, Any]]] = {}
    for t, name in enumerate(al.names):
        cand = np.flatnonzero(al.ok[t])
        order = cand[np.argsort(-al.accuracy[t, cand], kind="stable")]
        if order.size > k:
            order = order[al.accuracy[t, order] >= al.accuracy[t, order[k - 1]]]
        values = al.accuracy[t, order]
        out[name] = [{"function": al.functions[i], "tie": bool((values == al.accuracy[t, i]).sum() > 1),
                      "rank": {n: (None if np.isnan(ranks[u, i]) else int(ranks[u, i])) for u, n in enumerate(al.names)},
                      "accuracy": {n: (None if np.isnan(al.accuracy[u, i]) else float(al.accuracy[u, i]))
                                   for u, n in enumerate(al.names)}} for i in order]
    return out


def top_overlap(tables: Mapping[str, Any] | Sequence[Any] | AlignedTables, fraction: float = 0.01, *,
                metric: str = "val_accuracy") -> dict[str, Any]:
    """Overlap of the tables' top ``fraction`` among their shared functions.

    A table's top set holds the shared functions whose accuracy reaches the ``ceil(fraction * n)``-th best finite
    accuracy (ties included), the threshold :class:`~evaluation.TableReference` uses for "the top 1 %".

    Returns
    -------
    dict
        ``{"fraction", "sizes": {table: n}, "pairs": [{"a", "b", "shared", "jaccard"}], "in_all": n,
        "in_all_functions": [...]}``.

    Examples
    --------
    >>> import pandas as pd
    >>> mk = lambda v: pd.DataFrame({"function": ["a(x)", "b(x)", "c(x)", "d(x)"], "equivalents": [[]] * 4,
    ...                              "outputs": [[0.0]] * 4, "val_accuracy": v, "status": ["ok"] * 4})
    >>> top_overlap({"p": mk([0.1, 0.2, 0.3, 0.4]), "q": mk([0.1, 0.2, 0.4, 0.3])}, 0.5)["pairs"][0]["jaccard"]
    1.0
    """
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise InvalidInputError(f"parameter fraction of top_overlap must be in (0, 1]; got {fraction!r}")
    al = tables if isinstance(tables, AlignedTables) else align_tables(tables, metric=metric)
    sets = []
    for acc in al.accuracy:
        v = np.sort(acc[np.isfinite(acc)])[::-1]
        if v.size == 0:
            sets.append(set())
            continue
        thr = v[max(1, int(np.ceil(fraction * v.size))) - 1]
        sets.append(set(np.flatnonzero(np.isfinite(acc) & (acc >= thr)).tolist()))
    pairs = []
    for i, j in itertools.combinations(range(len(al.names)), 2):
        union = sets[i] | sets[j]
        pairs.append({"a": al.names[i], "b": al.names[j], "shared": len(sets[i] & sets[j]),
                      "jaccard": len(sets[i] & sets[j]) / len(union) if union else None})
    common = set.intersection(*sets)
    return {"fraction": float(fraction), "sizes": {n: len(s) for n, s in zip(al.names, sets)}, "pairs": pairs,
            "in_all": len(common), "in_all_functions": [al.functions[i] for i in sorted(common)]}


def _scores(pred: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, float]:
    """Spearman and precision@k of predictions against the truth (rows with both finite)."""
    from scipy.stats import spearmanr

    ok = np.isfinite(pred) & np.isfinite(truth)
    pred, truth = pred[ok], truth[ok]
    if pred.size < 2:
        return float("nan"), float("nan")
    kk = min(k, pred.size)
    top_pred = np.argsort(-pred, kind="stable")[:kk]
    top_true = np.argsort(-truth, kind="stable")[:kk]
    prec = len(np.intersect1d(top_pred, top_true)) / kk
    rho = float("nan") if np.ptp(pred) == 0 or np.ptp(truth) == 0 else float(spearmanr(pred, truth)[0])
    return rho, float(prec)


def _summary(x: np.ndarray, map_seeds: np.ndarray | None = None) -> dict[str, Any]:
    """Median and CI over the finite values: over seeds, or over maps when seeds share them."""
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.any():
        return {"median": None, "ci95": [None, None], "n": 0}
    m = unit_median_ci(x[finite], None if map_seeds is None else np.asarray(map_seeds)[finite])
    return {"median": m["median"], "ci95": m["ci95"], "n": int(finite.sum()), "ci_over": m["ci_over"]}


def surrogate_transfer(source: Any, target: Any, *, algorithm: str = "knr:both",
                       n_points: Sequence[int] = (25, 50, 100, 200), seeds: int = 10, k: int = 10, n_maps: int = 10,
                       metric: str = "val_accuracy", cache_dir: Any = None) -> dict[str, Any]:
    """Does a surrogate fitted on the source table's results rank the target table's functions?

    For every seed and ``n`` in ``n_points``: ``n`` random functions that have a finite accuracy in both tables
    and valid features on the target; the registered surrogate ``algorithm`` on the target's candidates (its UMAP
    map of seed ``seed % n_maps``, as the replays use) is told their source accuracies (``transfer``), and another
    one their target accuracies (``target``, the reference with the same number of points); both rank the target's
    other functions of its pool, scored against the target's truth by Spearman and precision@k. ``direct`` scores
    the source accuracies themselves as the ranking of the same held-out functions (no surrogate).

    Returns
    -------
    dict
        ``{"algorithm", "k", "seeds", "n_points": {n: {"transfer"|"target"|"direct": {"spearman":
        {"median", "ci95", "n"}, "precision_at_k": {...}}}}, "per_seed": {n: {...: {"spearman": [...], ...}}}}``.
    """
    info = searcher_info(algorithm)
    if not info.uses_map:
        raise InvalidInputError(f"parameter algorithm of surrogate_transfer must be a surrogate searcher (one that "
                                f"fits a map); got {algorithm!r}")
    seeds = check_int(seeds, "seeds", "surrogate_transfer", min_value=1)
    k = check_int(k, "k", "surrogate_transfer", min_value=1)
    n_maps = check_int(n_maps, "n_maps", "surrogate_transfer", min_value=1)
    ns = [check_int(n, "n_points", "surrogate_transfer", min_value=2) for n in n_points]
    al = align_tables({"source": source, "target": target}, metric=metric)
    cands = CandidateSet.from_table(target)
    pool = cands.feature_valid(info.features)
    truth = np.full(len(cands), np.nan)
    truth[al.rows[1]] = al.accuracy[1]
    src = np.full(len(cands), np.nan)
    src[al.rows[1]] = al.accuracy[0]
    usable = np.flatnonzero(pool & np.isfinite(truth) & np.isfinite(src))
    if max(ns) >= usable.size:
        raise InvalidInputError(f"parameter n_points of surrogate_transfer must stay below the {usable.size} "
                                f"functions usable on both tables; got {max(ns)}")
    maps: dict[int, Any] = {}
    per: dict[int, dict[str, dict[str, list[float]]]] = {
        n: {w: {"spearman": [], "precision_at_k": []} for w in ("transfer", "target", "direct")} for n in ns}
    for seed in range(seeds):
        m = seed % n_maps
        if m not in maps:
            maps[m] = embed_candidates(cands, info.features, seed=m, cache_dir=cache_dir)
        rng = np.random.default_rng([seed, 0x5EED])
        for n in ns:
            chosen = rng.choice(usable, size=n, replace=False)
            held = np.setdiff1d(usable, chosen)
            names = [cands.names[r] for r in chosen]
            for which, values in (("transfer", src[chosen]), ("target", truth[chosen])):
                s = create_searcher(algorithm, cands, seed=seed, initial=(), embedding=maps[m])
                s.warm_start(names, values.tolist())
                rows, pred = s.predict()
                full = np.full(len(cands), np.nan)
                full[rows] = pred
                rho, prec = _scores(full[held], truth[held], k)
                per[n][which]["spearman"].append(rho)
                per[n][which]["precision_at_k"].append(prec)
            rho, prec = _scores(src[held], truth[held], k)
            per[n]["direct"]["spearman"].append(rho)
            per[n]["direct"]["precision_at_k"].append(prec)
    return {"algorithm": algorithm, "k": k, "seeds": seeds, "n_maps": n_maps, "n_usable": int(usable.size),
            "n_points": {n: {w: {q: _summary(np.array(v), None if w == "direct" else np.arange(seeds) % n_maps)
                                 for q, v in d.items()} for w, d in per[n].items()} for n in ns},
            "per_seed": per}


def warm_start_told(source: Any, top_n: int | None, metric: str) -> tuple[list[str], list[float]]:
    """The results a warm-started searcher is told: the source table's ``metric`` for its ``top_n`` best functions
    (``None``: every function it has), best first."""
    if top_n is not None:
        top_n = check_int(top_n, "top_n", "WarmStart", min_value=1)
    frame, _ = table_frame(source, fim_layout=[])
    if metric not in frame.columns:
        raise InvalidInputError(f"the source table has no column {metric!r}")
    vals = np.asarray(frame[metric], dtype=np.float64)
    order = np.argsort(-np.where(np.isfinite(vals), vals, -np.inf), kind="stable")
    if top_n is not None:
        order = order[:top_n]
    return [str(frame["function"].iloc[i]) for i in order], [float(vals[i]) for i in order]
