"""Replay a searcher against a benchmark table: the table is the oracle, optionally with simulated parallel workers
that finish asynchronously according to the table's runtimes.

What the searcher is told (``observe``: the paper's median, or one drawn run) is apart from what the replay is scored
on (always the table's best estimate by twin group); see :mod:`evaluation._results`."""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from act_bench.errors import ActBenchError, InvalidInputError
from act_bench.search import (
    REGRESSORS,
    CandidateSet,
    Embedding,
    Result,
    Searcher,
    create_searcher,
    embed_candidates,
    list_searchers,
    prepare_embeddings,
    searcher_info,
    warm_up_layout,
)
from act_bench.utils import (
    POOL_STATE,
    check_int,
    children_ignore,
    init_pool_worker,
    quiet_pool_teardown,
    quiet_resource_tracker,
)
from evaluation._results import ReplayResult, TableOracle, check_observe

__all__ = ["DEFAULT_CHECKPOINTS", "SearcherFactory", "WarmStartFactory", "compute_maps"]

#: Numbers of results after which the surrogate's predictions are scored.
DEFAULT_CHECKPOINTS = (10, 25, 50, 100)

FactoryLike = Union[str, Callable[..., Searcher]]  # noqa: UP007  (a runtime alias)


@dataclass(frozen=True)
class SearcherFactory:
    """A picklable ``(candidates, seed) -> Searcher`` for a registered name plus keyword arguments."""

    name: str
    kwargs: dict = field(default_factory=dict)

    def __call__(self, candidates: CandidateSet, seed: int) -> Searcher:
        return create_searcher(self.name, candidates, seed=seed, **self.kwargs)


@dataclass(frozen=True)
class WarmStartFactory:
    """A picklable factory whose searchers are told prior results (:meth:`Searcher.warm_start`) before they ask.

    Prior results are not evaluations of the replay: they never appear in its trajectories or budget.

    Attributes
    ----------
    factory : callable
        ``(candidates, seed) -> Searcher``.
    functions : tuple of str
    values : tuple of float
    """

    factory: Callable[..., Searcher]
    functions: tuple[str, ...]
    values: tuple[float, ...]

    def __call__(self, candidates: CandidateSet, seed: int) -> Searcher:
        searcher = self.factory(candidates, seed)
        searcher.warm_start(self.functions, self.values)
        return searcher


def as_factory(factory: FactoryLike, searcher_kwargs: dict | None) -> Callable[..., Searcher]:
    if isinstance(factory, str):
        if factory not in list_searchers():
            raise InvalidInputError(f"unknown searcher {factory!r}; valid searchers: {', '.join(list_searchers())}")
        return SearcherFactory(factory, dict(searcher_kwargs or {}))
    if callable(factory):
        if searcher_kwargs:
            raise InvalidInputError("searcher_kwargs only applies when the searcher is given by name")
        return factory
    raise InvalidInputError(f"parameter searcher_factory of replay must be a searcher name or a callable "
                            f"(candidates, seed) -> Searcher; got {type(factory).__name__}")


def _quality(searcher: Searcher, oracle: TableOracle, k: int) -> dict[str, float] | None:
    from scipy.stats import kendalltau, spearmanr

    got = searcher.predict()
    if got is None:
        return None
    rows, pred = got
    truth = oracle.truth[rows]
    ok = np.isfinite(truth) & np.isfinite(pred)
    rows, pred, truth = rows[ok], pred[ok], truth[ok]
    if rows.size < 2:
        return None
    kk = min(k, rows.size)
    top_pred = np.argsort(-pred, kind="stable")[:kk]
    top_true = np.argsort(-truth, kind="stable")[:kk]
    prec = len(np.intersect1d(top_pred, top_true)) / kk
    if np.ptp(pred) == 0 or np.ptp(truth) == 0:
        rho = tau = float("nan")
    else:
        rho = float(spearmanr(pred, truth)[0])
        tau = float(kendalltau(pred, truth)[0])
    return {"spearman": rho, "kendall": tau, "precision_at_k": float(prec)}


def _run_one(factory, candidates, oracle, budget, seed, workers, checkpoints, k, observe="median"):
    searcher = factory(candidates, seed)
    obs = oracle.observations(observe, seed)
    rows = np.full(budget, -1, dtype=np.int64)
    obj = np.full(budget, np.nan)
    tst = np.full(budget, np.nan)
    tim = np.full(budget, np.nan)
    seen = np.full(budget, np.nan)
    quality: dict[int, dict[str, float]] = {}
    done = 0

    def finish(sugg, at):
        nonlocal done
        r = sugg.index
        searcher.tell(sugg, Result(float(obs.val[r]), {"test_accuracy": float(obs.test[r]),
                                                      "runtime": float(obs.runtime[r])}))
        rows[done], obj[done], tst[done], tim[done], seen[done] = r, oracle.truth[r], oracle.truth_test[r], at, \
            obs.val[r]
        done += 1
        if done in checkpoints:
            q = _quality(searcher, oracle, k)
            if q is not None:
                quality[done] = q

    if workers == 1:
        clock = 0.0
        while done < budget:
            sugg = searcher.ask(1)
            if not sugg:
                break
            clock += float(obs.runtime[sugg[0].index])
            finish(sugg[0], clock)
    else:
        heap: list[tuple[float, int, Any]] = []
        started = 0
        for w in range(min(workers, budget)):
            sugg = searcher.ask(1)
            if not sugg:
                break
            heapq.heappush(heap, (float(obs.runtime[sugg[0].index]), w, sugg[0]))
            started += 1
        while heap:
            at, w, sugg = heapq.heappop(heap)
            finish(sugg, at)
            if started < budget:
                nxt = searcher.ask(1)
                if nxt:
                    heapq.heappush(heap, (at + float(obs.runtime[nxt[0].index]), w, nxt[0]))
                    started += 1
    map_seed = searcher.map_seed
    return rows, obj, tst, tim, quality, -1 if map_seed is None else int(map_seed), seen


def _run_chunk(factory, candidates, oracle, budget, seeds, workers, checkpoints, k, observe="median"):
    return [_run_one(factory, candidates, oracle, budget, s, workers, checkpoints, k, observe) for s in seeds]


def _prewarm(factory, candidates: CandidateSet) -> None:
    """Compute (and cache) a shared embedding once, before worker processes start; for per-seed maps, the part every
    map shares (:func:`act_bench.search.prepare_embeddings`), so the workers compute only their seeded layouts."""
    if not (isinstance(factory, SearcherFactory) and searcher_info(factory.name).uses_map):
        return
    features, cache_dir = searcher_info(factory.name).features, factory.kwargs.get("cache_dir")
    if factory.kwargs.get("embedding_seed") is not None:
        embed_candidates(candidates, features, seed=factory.kwargs["embedding_seed"], cache_dir=cache_dir)
    elif "embedding" not in factory.kwargs:
        prepare_embeddings(candidates, features, cache_dir=cache_dir)


def replay_one(searcher_factory: FactoryLike, table: Any, budget: int, seeds: int | Sequence[int], workers: int = 1,
               *, searcher_kwargs: dict | None = None, checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS,
               precision_k: int = 10, n_jobs: int = 1, candidates: CandidateSet | None = None,
               oracle: TableOracle | None = None, name: str | None = None,
               warm_start: tuple[Sequence[str], Sequence[float]] | None = None, observe: str = "median"
               ) -> ReplayResult:
    """Run one searcher against a benchmark table for ``budget`` evaluations, once per seed (the engine of
    :func:`evaluation.replay`, which is the public entry point; this one is the package's own).

    Parameters
    ----------
    searcher_factory : str or callable
        A registered searcher name (``"random"``, ``"knr:both"``, ...) or ``f(candidates, seed) -> Searcher``.
    table : BenchmarkTable or pandas.DataFrame
        The oracle (validation accuracy is maximised; the test accuracy of the incumbent is reported). Scores are
        the table's best estimates by twin group (:attr:`TableOracle.truth`), whatever the searcher observes.
    budget : int
        Evaluations per run.
    seeds : int or sequence of int
        ``n`` means seeds ``0 .. n-1``.
    workers : int, default=1
        Simulated parallel workers. With more than one, each worker asks for a new function as soon as its previous
        one finishes; evaluations take the table's ``runtime`` on a simulated clock and are told in completion order.
    searcher_kwargs : dict, optional
        Keyword arguments of the named searcher (e.g. ``{"n_estimators": 100}``).
    checkpoints : sequence of int
        After this many results, the surrogate's predictions on the not-yet-evaluated functions are scored.
    precision_k : int, default=10
        k of precision@k.
    n_jobs : int, default=1
        Processes to spread the seeds over (the factory must then be picklable; names always are).
    candidates, oracle : optional
        Prebuilt from ``table`` when omitted.
    warm_start : (functions, values), optional
        Prior results (e.g. another table's accuracies of these functions) every run's searcher is told before its
        first ask (:class:`WarmStartFactory`); they do not count as evaluations of the replay.
    observe : {"median", "run"}, default="median"
        What an evaluation tells the searcher: the paper's median over its seeds, or one run of the function drawn
        per (replay seed, function) from all its runs (:meth:`TableOracle.observations`; the drawn run's runtime is
        the simulated cost).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> names = [f"f{i}" for i in range(20)]
    >>> df = pd.DataFrame({"function": names, "equivalents": [[n] for n in names],
    ...                    "outputs": list(np.eye(20, dtype=np.float32)), "val_accuracy": np.linspace(0, 1, 20),
    ...                    "test_accuracy": np.linspace(0, 1, 20), "runtime": np.ones(20)})
    >>> res = replay_one("random", df, budget=20, seeds=2)
    >>> float(np.nanmax(res.objective[0]))
    1.0
    """
    budget = check_int(budget, "budget", "replay", min_value=1)
    workers = check_int(workers, "workers", "replay", min_value=1)
    n_jobs = check_int(n_jobs, "n_jobs", "replay", min_value=1)
    precision_k = check_int(precision_k, "precision_k", "replay", min_value=1)
    seeds = _normalize_seeds(seeds)
    observe = check_observe(observe, "replay")
    checkpoints = {check_int(c, "checkpoints", "replay", min_value=1) for c in checkpoints}
    factory = as_factory(searcher_factory, searcher_kwargs)
    if warm_start is not None:
        functions, values = warm_start
        factory = WarmStartFactory(factory, tuple(map(str, functions)), tuple(float(v) for v in values))
    if candidates is None:
        candidates = CandidateSet.from_table(table)
    if oracle is None:
        oracle = TableOracle.from_table(table)
    if oracle.objective.shape[0] != len(candidates):
        raise InvalidInputError(f"the oracle has {oracle.objective.shape[0]} rows but the candidate set "
                                f"{len(candidates)}")
    label = name or (searcher_factory if isinstance(searcher_factory, str) else getattr(
        searcher_factory, "__name__", type(searcher_factory).__name__))
    t0 = time.perf_counter()
    args = (factory, candidates, oracle, budget)
    if n_jobs == 1 or len(seeds) == 1:
        runs = _run_chunk(*args, seeds, workers, checkpoints, precision_k, observe)
    else:
        _prewarm(factory, candidates)
        n_jobs = min(n_jobs, len(seeds), os.cpu_count() or 1)
        chunks = [seeds[i::n_jobs] for i in range(n_jobs)]
        with _pool(n_jobs) as pool:
            with children_ignore(_STOPS):  # the workers start here
                parts_iter = pool.map(_run_chunk, *zip(*[(*args, c, workers, checkpoints, precision_k, observe)
                                                         for c in chunks]))
            parts = list(parts_iter)
        by_seed = {s: r for c, p in zip(chunks, parts) for s, r in zip(c, p)}
        runs = [by_seed[s] for s in seeds]
    return _assemble(str(label), seeds, runs, checkpoints, workers, precision_k, time.perf_counter() - t0, observe)


def _assemble(label, seeds, runs, checkpoints, workers, precision_k, seconds, observe="median") -> ReplayResult:
    quality: dict[int, dict[str, np.ndarray]] = {}
    for c in sorted(checkpoints):
        if any(c in r[4] for r in runs):
            quality[c] = {m: np.array([r[4].get(c, {}).get(m, np.nan) for r in runs])
                          for m in ("spearman", "kendall", "precision_at_k")}
    return ReplayResult(name=label, seeds=list(seeds), rows=np.stack([r[0] for r in runs]),
                        objective=np.stack([r[1] for r in runs]), test=np.stack([r[2] for r in runs]),
                        time=np.stack([r[3] for r in runs]), workers=workers, quality=quality,
                        precision_k=precision_k, seconds=seconds,
                        map_seeds=np.array([r[5] for r in runs], dtype=np.int64),
                        observed=np.stack([r[6] for r in runs]), observe=observe)


def _normalize_seeds(seeds) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return list(range(check_int(int(seeds), "seeds", "replay", min_value=1)))
    seeds = [check_int(s, "seeds", "replay", min_value=0) for s in seeds]
    if not seeds:
        raise InvalidInputError("parameter seeds of replay must name at least one seed; got none")
    return seeds


#: Signals a pool worker ignores from its first instruction (a stop reaches the whole group: the driver decides).
_STOPS = (signal.SIGINT, signal.SIGTERM)


def _state(key: str) -> Any:
    """The pool worker's shared state (given through the queue of :func:`_pool`)."""
    candidates, oracle = POOL_STATE["state"]
    return candidates if key == "candidates" else oracle


@contextlib.contextmanager
def _pool(n_jobs: int, state: tuple | None = None) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``n_jobs`` spawned processes that die with this driver: on any signal that kills it (SIGKILL too;
    a worker also watches the driver's pid), and at once when the replay ends by an exception (Ctrl-C included:
    the workers ignore SIGINT, the driver ends them, so the only output is the driver's one line). A worker that
    dies on its own is an :class:`~act_bench.errors.ActBenchError`.

    ``state`` (``(candidates, oracle)``, large) reaches each worker through a queue that a background thread
    feeds, not with its start data: starting a worker is quick, so a signal is never held back for long and a
    driver killed meanwhile leaves no worker with half its start data (an unpickling traceback).
    """
    ctx = mp.get_context("spawn")
    quiet_resource_tracker()
    queue = None
    if state is not None:
        queue = ctx.Queue()
        queue.cancel_join_thread()  # an aborted replay does not wait for states no worker will read
        for _ in range(n_jobs):
            queue.put(state)
    before = {p.pid for p in mp.active_children()}
    pool = ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=init_pool_worker,
                               initargs=(os.getpid(), threading.current_thread() is threading.main_thread(), queue))
    try:
        yield pool
    except BaseException as exc:
        quiet_pool_teardown()
        pool.shutdown(wait=False, cancel_futures=True)
        for p in mp.active_children():
            if p.pid not in before:
                p.kill()
        if isinstance(exc, BrokenProcessPool):
            raise ActBenchError(f"a replay worker process died ({exc}); rerun with fewer --jobs if memory ran "
                                f"out") from None
        raise
    pool.shutdown(wait=True)


def _embed_task(features: str, seed: int, cache_dir) -> None:
    embed_candidates(_state("candidates"), features, seed=seed, cache_dir=cache_dir)


def _warm_up(regressors: tuple[str, ...]) -> None:
    """In a pool worker, while the driver computes the maps' shared bases (a core would otherwise wait): compile the
    numba code of the map layouts and of the named surrogate regressors on a toy table and map. The argument types
    are those of a real run, so the real run uses the same compiled code; no result depends on this."""
    import pandas as pd

    warm_up_layout()
    n = 40
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(n)]
    toy = pd.DataFrame({"function": names, "equivalents": [[x] for x in names],
                        "outputs": list(rng.random((n, 8), dtype=np.float32)), "val_accuracy": rng.random(n),
                        "test_accuracy": rng.random(n), "runtime": np.ones(n)})
    cs, oracle = CandidateSet.from_table(toy), TableOracle.from_table(toy)
    emb = Embedding(np.arange(n), rng.random((n, 2), dtype=np.float32), "outputs", 0, "warm-up")
    for r in regressors:
        _run_one(SearcherFactory(f"{r}:outputs", {"embedding": emb}), cs, oracle, 30, 0, 1, {25}, 10)


def _regressors(factories) -> tuple[str, ...]:
    """The built-in surrogate regressors among the factories' map-based searchers (``knr`` of ``knr:fim``)."""
    registered = set(list_searchers())
    out = [_named(f).name.split(":")[0] for f in factories.values() if _loads_maps(f)]
    return tuple(dict.fromkeys(r for r in out if r in REGRESSORS and f"{r}:outputs" in registered))


#: Rough CPU cost order of the built-in regressors' replays (forests and Gaussian processes refit most per step).
_COST_ORDER = {"rfr": 0, "gpr": 0, "svr": 1, "knr": 2}


def _cost_order(name: str) -> int:
    return _COST_ORDER.get(name.split(":")[0], 3)


def _named(factory):
    """The :class:`SearcherFactory` inside a factory (a warm-started one's too), else the factory."""
    return factory.factory if isinstance(factory, WarmStartFactory) else factory


def _loads_maps(factory) -> bool:
    """Whether the factory's searchers load UMAP maps (a map-based searcher not given its ``embedding``)."""
    factory = _named(factory)
    return (isinstance(factory, SearcherFactory) and searcher_info(factory.name).uses_map
            and "embedding" not in factory.kwargs)


def _maps_needed(factories, seeds) -> list[tuple[str, int, Any]]:
    """(features, UMAP seed, cache_dir) of every map the named surrogates will load."""
    need = {}
    for f in factories.values():
        if not _loads_maps(f):
            continue
        f = _named(f)
        feats = searcher_info(f.name).features
        es, n_maps = f.kwargs.get("embedding_seed"), f.kwargs.get("n_maps")
        map_seeds = {es} if es is not None else {s % n_maps for s in seeds} if n_maps else set(seeds)
        for m in map_seeds:
            need[(feats, m, str(f.kwargs.get("cache_dir")))] = (feats, m, f.kwargs.get("cache_dir"))
    return list(need.values())


def _by_base(maps) -> dict[tuple[str, Any], list[tuple[str, int, Any]]]:
    """The maps grouped by the base they share, ``(features, cache_dir)``, in the order the maps name them."""
    groups: dict[tuple[str, Any], list[tuple[str, int, Any]]] = {}
    for m in maps:
        groups.setdefault((m[0], m[2]), []).append(m)
    return groups


def _prepare_bases(candidates: CandidateSet, maps) -> None:
    """What the maps of each feature set share, computed once here and cached on disk before processes need it."""
    for features, cache_dir in _by_base(maps):
        prepare_embeddings(candidates, features, cache_dir=cache_dir)


def _embed_many(candidates: CandidateSet, maps) -> int:
    for features, seed, cache_dir in maps:
        embed_candidates(candidates, features, seed=seed, cache_dir=cache_dir)
    return len(maps)


def compute_maps(candidates: CandidateSet, factories: dict[str, Callable[..., Searcher]], seeds: Sequence[int], *,
                 n_jobs: int = 1, progress: Callable[[int, int], None] | None = None) -> int:
    """Compute (and cache) every UMAP map the factories' searchers will load for ``seeds``, before any replay.

    What the maps of a feature set share (graphs, spectral initialisation) is computed once and cached on disk; the
    seeded layouts then run over ``n_jobs`` processes, each map once. ``progress(done, total)`` follows them.
    Returns the number of maps.
    """
    maps = _maps_needed(factories, seeds)
    if not maps:
        return 0
    _prepare_bases(candidates, maps)
    done = 0
    if n_jobs == 1 or len(maps) == 1:
        for m in maps:
            done += _embed_many(candidates, [m])
            if progress is not None:
                progress(done, len(maps))
        return done
    k = min(len(maps), 4 * n_jobs)     # a few maps per task: the candidate set travels once per task
    chunks = [maps[i::k] for i in range(k)]
    with _pool(min(n_jobs, k)) as pool:
        with children_ignore(_STOPS):  # the workers start here
            parts = pool.map(_embed_many, [candidates] * k, chunks)
        for n in parts:
            done += n
            if progress is not None:
                progress(done, len(maps))
    return done


def _grid_task(factory, budget, seeds, workers, checkpoints, k, observe="median"):
    t0 = time.process_time()
    runs = _run_chunk(factory, _state("candidates"), _state("oracle"), budget, seeds, workers,
                      checkpoints, k, observe)
    return runs, time.process_time() - t0


def replay_grid_of(factories: dict[str, Callable[..., Searcher]], table: Any, budget: int,
                   seeds: int | Sequence[int], workers: int = 1, *, checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS,
                   precision_k: int = 10, n_jobs: int = 1,
                   progress: Callable[[str, ReplayResult], None] | None = None, observe: str = "median",
                   map_progress: Callable[[int, int], None] | None = None, candidates: CandidateSet | None = None,
                   oracle: TableOracle | None = None) -> dict[str, ReplayResult]:
    """Replay several searchers (``{label: factory}``, :func:`as_factory`) on one table, sharing one pool of
    ``n_jobs`` processes (the engine of :func:`evaluation.replay`).

    ``ReplayResult.seconds`` is then the CPU time the algorithm's runs took summed over the processes (its cost),
    not wall-clock time. With ``n_jobs=1`` it is the wall-clock time of the sequential replay.

    With ``n_jobs > 1`` the processes are started with ``spawn`` (safe with torch/numba threads): call it from a
    module guarded by ``if __name__ == "__main__":`` or from an importable function. Every UMAP map the named
    surrogates need is computed first, spread over the processes, so no two processes compute the same map
    (``map_progress(done, total)`` is called as they complete; also with ``n_jobs=1``). ``observe`` is as in
    :func:`replay_one`. ``candidates`` and ``oracle`` are built from ``table`` when omitted.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> names = [f"f{i}" for i in range(20)]
    >>> df = pd.DataFrame({"function": names, "equivalents": [[n] for n in names],
    ...                    "outputs": list(np.eye(20, dtype=np.float32)), "val_accuracy": np.linspace(0, 1, 20),
    ...                    "test_accuracy": np.linspace(0, 1, 20), "runtime": np.ones(20)})
    >>> sorted(replay_grid_of({a: as_factory(a, None) for a in ("random", "evolution")}, df, 5, 2))
    ['evolution', 'random']
    """
    budget = check_int(budget, "budget", "replay", min_value=1)
    workers = check_int(workers, "workers", "replay", min_value=1)
    n_jobs = check_int(n_jobs, "jobs", "replay", min_value=1)
    seeds = _normalize_seeds(seeds)
    observe = check_observe(observe, "replay")
    checkpoints = {check_int(c, "checkpoints", "replay", min_value=1) for c in checkpoints}
    if candidates is None:
        candidates = CandidateSet.from_table(table)
    if oracle is None:
        oracle = TableOracle.from_table(table)
    out: dict[str, ReplayResult] = {}
    if n_jobs == 1:
        compute_maps(candidates, factories, seeds, progress=map_progress)
        for a, f in factories.items():
            out[a] = replay_one(f, table, budget, seeds, workers, checkpoints=checkpoints, precision_k=precision_k,
                                candidates=candidates, oracle=oracle, name=a, observe=observe)
            if progress is not None:
                progress(a, out[a])
        return out
    n_jobs = min(n_jobs, len(seeds))
    chunks = [seeds[i::n_jobs] for i in range(n_jobs)]
    with _pool(n_jobs, (candidates, oracle)) as pool:
        # Every UMAP map once, spread over the processes, before any replay that needs it. The workers start (and
        # compile the layout) while this process computes the shared base of the first feature set; each feature
        # set's maps are queued as soon as its base is ready; the replays without maps go last, where they fill the
        # wait for the last maps. Scheduling only: every map and replay is the same as computed one by one.
        maps = _maps_needed(factories, seeds)
        regressors = _regressors(factories)
        with children_ignore(_STOPS):  # workers start at submissions (also below)
            for _ in range(n_jobs if maps else 0):
                pool.submit(_warm_up, regressors)
        map_futures = []
        for (features, cache_dir), group in _by_base(maps).items():
            prepare_embeddings(candidates, features, cache_dir=cache_dir)
            with children_ignore(_STOPS):
                map_futures += [pool.submit(_embed_task, *m) for m in group]

        def submit(names):
            with children_ignore(_STOPS):
                return {a: [pool.submit(_grid_task, factories[a], budget, c, workers, checkpoints, precision_k,
                                        observe) for c in chunks] for a in names}

        futures = submit([a for a, f in factories.items() if not _loads_maps(f)])
        for i, fu in enumerate(as_completed(map_futures)):
            fu.result()
            if map_progress is not None:
                map_progress(i + 1, len(maps))
        # the costliest surrogates first (longest task first), so the last tasks to finish are short ones
        futures.update(submit(sorted((a for a in factories if a not in futures), key=_cost_order)))
        for a in factories:
            parts = [fu.result() for fu in futures[a]]
            by_seed = {s: r for c, (p, _) in zip(chunks, parts) for s, r in zip(c, p)}
            out[a] = _assemble(a, seeds, [by_seed[s] for s in seeds], checkpoints, workers, precision_k,
                               sum(sec for _, sec in parts), observe)
            if progress is not None:
                progress(a, out[a])
    return out
