"""The one replay entry point, :func:`replay`, and what it returns, :class:`Replay`.

One call covers what six functions did before (``replay``, ``replay_grid``, ``replay_multifidelity``, ``compare``,
``compare_multifidelity``, ``warm_start_replay``; see :mod:`evaluation._deprecated`) with one vocabulary:

* ``budget`` evaluations (proposals) per run, or ``time_budget`` simulated seconds (with a scheduler);
* ``seeds`` replay repetitions (``n`` means ``0 .. n-1``);
* ``workers`` simulated evaluations in flight, on the table's simulated clock;
* ``jobs`` local processes the runs are spread over (results never depend on it).

What is replayed follows from the arguments: one table or several (a mapping name -> table, or a sequence), one
algorithm or several, full fidelity (``scheduler=None`` and no ``time_budget``) or a multi-fidelity scheduler
(:mod:`evaluation._schedulers`), cold or warm-started (``warm_start``). The numbers are those the six functions gave
(bit-identical, tested against fingerprints recorded before they were merged).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.search import CandidateSet, list_searchers, searcher_info
from act_bench.space import BASELINE_FUNCTIONS
from act_bench.utils import check_int, interrupt_message
from evaluation._baselines import fair_baselines
from evaluation._metrics import TableReference, best_so_far, evals_to, summarize, unit_median_ci
from evaluation._replay import (
    DEFAULT_CHECKPOINTS,
    WarmStartFactory,
    _normalize_seeds,
    as_factory,
    compute_maps,
    replay_grid_of,
    replay_one,
)
from evaluation._report import SCORED_ON, exact_random_baselines, reference_block, write_figures
from evaluation._results import ReplayResult, TableOracle, check_observe
from evaluation._schedulers import check_scheduler_args, replay_multifidelity_one, scheduler_curves
from evaluation._study import warm_start_told
from evaluation._suite import (
    RANK_METRICS,
    average_ranks,
    per_seed_scores,
    same_pools,
    seed_clusters,
    simulated_seconds,
)

__all__ = ["Replay", "ReplaySettings", "WarmStart", "replay"]


@dataclass(frozen=True)
class WarmStart:
    """Warm-start every searcher of a replay with another table's results, and replay it cold too for comparison.

    Every searcher is told (:meth:`~act_bench.search.Searcher.warm_start`) the source's ``metric`` for its ``top_n``
    best functions (``None``: every function it has) before its first ask; told results are not evaluations (the
    budget and the trajectories hold only the target's own lookups). The replay's oracle reads ``metric`` on the
    target too. Passing a table as ``warm_start`` means ``WarmStart(table)``.
    """

    source: Any
    top_n: int | None = None
    metric: str = "val_accuracy"


@dataclass(frozen=True)
class ReplaySettings:
    """The settings a :class:`Replay` ran with (validated; ``seeds`` as the list of seeds)."""

    budget: int | None
    seeds: tuple[int, ...]
    workers: int = 1
    jobs: int = 1
    observe: str = "median"
    scheduler: str | None = None      # None: full fidelity
    time_budget: float | None = None
    eta: int = 3
    min_epochs: int = 1
    baselines: bool = False
    checkpoints: tuple[int, ...] = DEFAULT_CHECKPOINTS
    precision_k: int = 10
    warm_start: str | None = None     # None, "table" (a WarmStart: warm and cold runs) or "results" (warm runs)
    top_n: int | None = None
    metric: str = "val_accuracy"


@dataclass
class _Table:
    """What the summaries of one table read: its candidates, its oracle and (when first read) the reference.

    The reference looks the baselines up by name; a table that lacks one by its spelling is searched by outputs,
    which needs ``act_bench.space``'s evaluator (torch): only a summary pays for it, never the replay."""

    candidates: CandidateSet
    oracle: TableOracle

    @functools.cached_property
    def ref(self) -> TableReference:
        return TableReference.from_oracle(self.oracle, self.candidates.index_of("relu(x)"),
                                          self.candidates.indices_of(BASELINE_FUNCTIONS))


@dataclass
class Replay:
    """The results of :func:`replay`: per table and algorithm one :class:`ReplayResult` (a
    :class:`~evaluation.MultiFidelityResult` with a scheduler), the settings, and the summaries.

    Attributes
    ----------
    results : dict
        ``{table: {algorithm: ReplayResult}}``, the requested algorithms first, then the fair baselines added.
    settings : ReplaySettings
    algorithms : list of str
        The requested algorithms' labels (a name, or a factory's ``__name__``).
    baselines : list of str
        The fair random baselines added (``baselines=True``; :func:`evaluation.fair_baselines`).
    cold : dict or None
        With ``warm_start`` a table (:class:`WarmStart`): the same replays not warm-started, ``{table: {algorithm:
        ReplayResult}}``.
    told : (functions, values) or None
        What every warm-started searcher was told.

    Examples
    --------
    >>> from evaluation._synthetic import synthetic_table
    >>> run = replay(synthetic_table(60, seed=0), ["random", "evolution"], budget=20, seeds=3)
    >>> run.result("evolution").objective.shape, sorted(run.summary()["algorithms"])
    ((3, 20), ['evolution', 'random'])
    """

    results: dict[str, dict[str, ReplayResult]]
    settings: ReplaySettings
    algorithms: list[str]
    baselines: list[str] = field(default_factory=list)
    cold: dict[str, dict[str, ReplayResult]] | None = None
    told: tuple[list[str], list[float]] | None = None
    _tables: dict[str, _Table] = field(default_factory=dict, repr=False, compare=False)
    _summaries: dict[str, dict] = field(default_factory=dict, repr=False, compare=False)

    @property
    def tables(self) -> list[str]:
        """The tables' names, in the order given."""
        return list(self.results)

    def __repr__(self) -> str:  # the trajectories are in .results; the repr says what was replayed
        s = self.settings
        extra = "".join(f", {k}={v!r}" for k, v in (("scheduler", s.scheduler), ("time_budget", s.time_budget))
                        if v is not None)
        return (f"Replay(tables={self.tables!r}, algorithms={self.algorithms!r}, baselines={self.baselines!r}, "
                f"budget={s.budget}, seeds={len(s.seeds)}, workers={s.workers}, jobs={s.jobs}, "
                f"observe={s.observe!r}{extra}{', warm_start=True' if self.told is not None else ''})")

    def _table(self, table: str | None) -> str:
        if table is None:
            if len(self.results) != 1:
                raise InvalidInputError(f"this replay covers {len(self.results)} tables; name one with table=: "
                                        f"{', '.join(map(repr, self.results))}")
            return next(iter(self.results))
        if table not in self.results:
            raise InvalidInputError(f"parameter table must be one of the replay's tables "
                                    f"{', '.join(map(repr, self.results))}; got {table!r}")
        return table

    def result(self, algorithm: str | None = None, table: str | None = None) -> ReplayResult:
        """The :class:`ReplayResult` of ``algorithm`` (may be omitted when one was replayed) on ``table`` (may be
        omitted when there is one)."""
        per = self.results[self._table(table)]
        if algorithm is None:
            if len(self.algorithms) != 1:
                raise InvalidInputError(f"this replay covers algorithms {', '.join(map(repr, per))}; name one")
            algorithm = self.algorithms[0]
        if algorithm not in per:
            raise InvalidInputError(f"parameter algorithm must be one of {', '.join(map(repr, per))}; got "
                                    f"{algorithm!r}")
        return per[algorithm]

    def summary(self, table: str | None = None, *, rank_by: str = "evals_to_top1pct", n_boot: int = 1000
                ) -> dict[str, Any]:
        """The summary of one table (the JSON of ``act-bench replay``): settings, the reference, per algorithm
        :func:`evaluation.summarize` (with a scheduler also ``simulated_seconds``, ``proposals`` and
        ``completed``), and with ``baselines`` at full fidelity the exact random-search distributions
        (``exact_random``, :func:`evaluation.exact_random_baselines`). The budget is under ``"evals"``.

        Several tables and no ``table``: ``{"tables": {name: summary}, "rank_by", "ranks"}`` (:meth:`ranks`).
        """
        if table is None and len(self.results) > 1:
            return {"tables": {t: self.summary(t) for t in self.results}, "rank_by": rank_by,
                    "ranks": self.ranks(rank_by, n_boot=n_boot)}
        name = self._table(table)
        if name not in self._summaries:
            self._summaries[name] = (self._summary_full(name) if self.settings.scheduler is None
                                     else self._summary_scheduled(name))
        return self._summaries[name]

    def _head(self, name: str) -> dict[str, Any]:
        s, t = self.settings, self._tables[name]
        return {"table": name, "evals": s.budget, "seeds": len(s.seeds), "workers": s.workers,
                "n_functions": len(t.candidates), "n_twin_groups": t.candidates.n_groups, "observe": s.observe,
                "scored_on": SCORED_ON, "reference": reference_block(t.ref), "baselines": list(self.baselines)}

    def _summary_full(self, name: str) -> dict[str, Any]:
        s, t, results = self.settings, self._tables[name], self.results[name]
        summary = {**self._head(name), "algorithms": {a: summarize(r, t.ref) for a, r in results.items()}}
        if s.baselines:
            pools = [None] + [f for f in ("fim", "outputs", "both")
                              if any(searcher_info(a).features == f for a in results if a in list_searchers())]
            summary["exact_random"] = exact_random_baselines(t.candidates, t.oracle, t.ref, pools, int(s.budget))
        return summary

    def _summary_scheduled(self, name: str) -> dict[str, Any]:
        s, t = self.settings, self._tables[name]
        head = self._head(name)
        summary = {**{k: head[k] for k in ("table", "evals")}, "time_budget": s.time_budget,
                   **{k: v for k, v in head.items() if k not in ("table", "evals")},
                   "scheduler": {"name": s.scheduler, "eta": s.eta, "min_epochs": s.min_epochs}, "algorithms": {}}
        for a, res in self.results[name].items():
            with warnings.catch_warnings():  # columns past the shortest seed's last entry are all NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                block = summarize(res, t.ref)
            block["simulated_seconds"] = simulated_seconds(res)
            block["proposals"] = float(np.mean((res.rows >= 0).sum(axis=1)))
            block["completed"] = float(np.mean(np.isfinite(res.objective).sum(axis=1)))
            summary["algorithms"][a] = block
            summary["scheduler"]["rungs"] = res.rungs
        return summary

    def ranks(self, rank_by: str = "evals_to_top1pct", *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
        """Each algorithm's average rank across the tables with its bootstrap CI (:func:`evaluation.average_ranks`
        over :func:`evaluation.per_seed_scores`, clusters of seeds that share a map resampled whole); random pools
        that are the same functions on every table are ranked once (``"same_pool"``)."""
        if rank_by not in RANK_METRICS:
            raise InvalidInputError(f"parameter rank_by must be one of {', '.join(RANK_METRICS)}; got {rank_by!r}")
        scores = {t: {a: per_seed_scores(r, self._tables[t].ref, rank_by) for a, r in per.items()}
                  for t, per in self.results.items()}
        clusters = {t: seed_clusters(per) for t, per in self.results.items()}
        aliases = same_pools([c.candidates for c in self._tables.values()], list(next(iter(scores.values()))))
        scores = {t: {a: v for a, v in sc.items() if a not in aliases} for t, sc in scores.items()}
        ranks = average_ranks(scores, higher_is_better=RANK_METRICS[rank_by], n_boot=n_boot, seed=seed,
                              clusters=clusters)
        ranks["same_pool"] = aliases
        return ranks

    def warm_start_summary(self, table: str | None = None) -> dict[str, Any]:
        """Cold against warm-started (``warm_start`` a table or :class:`WarmStart`): per requested algorithm the
        evaluations to the target's top 1 % (``inf`` / ``None``: not reached within the budget), medians with CIs
        over runs, or over maps when runs share them (:func:`evaluation.unit_median_ci`).

        Returns ``{"top_n", "n_told", "evals", "seeds", "observe", "top1pct_threshold", "algorithms": {name:
        {"cold", "warm", "per_seed": {"cold", "warm"}, "map_seeds": {"cold", "warm"}}}}``.
        """
        if self.cold is None or self.told is None:
            raise InvalidInputError("warm_start_summary needs a replay with warm_start= a table or a WarmStart "
                                    "(which replays cold too)")
        name, s = self._table(table), self.settings
        ref = self._tables[name].ref
        out: dict[str, Any] = {"top_n": s.top_n, "n_told": len(self.told[0]), "evals": s.budget,
                               "seeds": len(s.seeds), "observe": s.observe, "top1pct_threshold": ref.top1,
                               "algorithms": {}}
        for a in self.algorithms:
            runs = {"cold": self.cold[name][a], "warm": self.results[name][a]}
            per = {w: evals_to(best_so_far(r.objective), ref.top1) for w, r in runs.items()}
            out["algorithms"][a] = {"cold": unit_median_ci(per["cold"], runs["cold"].map_seeds),
                                    "warm": unit_median_ci(per["warm"], runs["warm"].map_seeds),
                                    "per_seed": {w: [None if not np.isfinite(x) else int(x) for x in v]
                                                 for w, v in per.items()},
                                    "map_seeds": {w: [int(m) for m in r.map_seeds] for w, r in runs.items()}}
        return out

    def write_figures(self, out_dir: str | os.PathLike, *, table: str | None = None,
                      stem: str = "search_curves") -> list[Path]:
        """``{stem}.png`` (best so far vs evaluations) and, with simulated workers or a scheduler,
        ``{stem}_time.png`` (vs simulated time) of one table (:func:`evaluation.write_figures`)."""
        name, s = self._table(table), self.settings
        ref = self._tables[name].ref
        if s.scheduler is not None:
            return write_figures(self.results[name], ref, out_dir, workers=max(s.workers, 2), stem=stem, table=name)
        return write_figures(self.results[name], ref, out_dir, workers=s.workers, stem=stem, table=name,
                             title_note="" if s.observe == "median" else f", observe {s.observe}")

    def to_frame(self):
        """A tidy ``pandas.DataFrame``: one row per (table, algorithm, seed, evaluation) with ``row``, ``function``,
        ``objective``, ``test``, ``time``, ``observed`` (and ``epochs`` with a scheduler); entries past a run's end
        (row -1) are left out."""
        import pandas as pd

        parts = []
        for t, per in self.results.items():
            names = np.asarray(self._tables[t].candidates.names, dtype=object)
            for a, r in per.items():
                seed_idx, step = np.nonzero(r.rows >= 0)
                rows = r.rows[seed_idx, step]
                cols = {"table": t, "algorithm": a, "seed": np.asarray(r.seeds, dtype=np.int64)[seed_idx],
                        "step": step + 1, "row": rows, "function": names[rows],
                        "objective": r.objective[seed_idx, step], "test": r.test[seed_idx, step],
                        "time": r.time[seed_idx, step]}
                if r.observed is not None:
                    cols["observed"] = r.observed[seed_idx, step]
                if getattr(r, "epochs", None) is not None and np.ndim(r.epochs) == 2:
                    cols["epochs"] = r.epochs[seed_idx, step]
                parts.append(pd.DataFrame(cols))
        return pd.concat(parts, ignore_index=True)


def _is_table(x: Any) -> bool:
    import pandas as pd

    return isinstance(x, pd.DataFrame) or isinstance(getattr(x, "functions", None), pd.DataFrame)


def _tables_of(table: Any) -> dict[str, Any]:
    """``{name: table}`` of the ``table`` argument of :func:`replay`."""
    if _is_table(table):
        name = getattr(table, "name", "") if not _is_frame(table) else ""
        return {str(name or ""): table}
    if isinstance(table, Mapping):
        out = dict(table)
        bad = [k for k, v in out.items() if not isinstance(k, str) or not _is_table(v)]
        if not out or bad:
            raise InvalidInputError("parameter table of replay must map table names to BenchmarkTables or "
                                    f"DataFrames; got {'no table' if not out else f'entry {bad[0]!r}'}")
        return out
    if isinstance(table, Sequence) and not isinstance(table, str) and table:
        if not all(_is_table(t) for t in table):
            raise InvalidInputError("parameter table of replay must be a table, a mapping name -> table or a "
                                    "sequence of tables; the sequence holds something else")
        names = [(getattr(t, "name", "") if not _is_frame(t) else "") or f"table-{i}" for i, t in enumerate(table)]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"the tables' names repeat ({', '.join(names)}); pass a mapping name -> table")
        return dict(zip(names, table))
    raise InvalidInputError(f"parameter table of replay must be a BenchmarkTable, a pandas DataFrame, a mapping "
                            f"name -> table or a sequence of tables; got {type(table).__name__}")


def _is_frame(x: Any) -> bool:
    import pandas as pd

    return isinstance(x, pd.DataFrame)


def _label(a: Any) -> str:
    return a.strip() if isinstance(a, str) else str(getattr(a, "__name__", type(a).__name__))


def _factories(algorithms: Any, searcher_kwargs: Mapping[str, dict] | None) -> dict[str, Callable]:
    """``{label: factory}`` of the ``algorithms`` argument of :func:`replay`, checked."""
    algos = [algorithms] if isinstance(algorithms, str) or callable(algorithms) else list(algorithms or [])
    algos = [a for a in algos if not (isinstance(a, str) and not a.strip())]
    if not algos:
        raise InvalidInputError("parameter algorithms of replay must name at least one algorithm, e.g. "
                                "['random', 'knr:both']")
    valid = list_searchers()
    bad = [a for a in algos if isinstance(a, str) and a.strip() not in valid]
    if bad:
        import difflib

        close = [m for b in bad for m in difflib.get_close_matches(b.strip(), valid, n=1)]
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if len(close) == len(bad) else ""
        raise InvalidInputError(f"unknown algorithm(s) {', '.join(map(repr, bad))}{hint}; valid algorithms: "
                                f"{', '.join(valid)}")
    labels = [_label(a) for a in algos]
    if len(set(labels)) != len(labels):
        raise InvalidInputError(f"algorithms are listed twice: {', '.join(labels)}")
    kwargs = dict(searcher_kwargs or {})
    extra = [k for k in kwargs if k not in labels]
    if extra:
        raise InvalidInputError(f"parameter searcher_kwargs of replay maps algorithm names to keyword arguments; "
                                f"{extra[0]!r} is not one of the algorithms ({', '.join(labels)})")
    return {lab: as_factory(a.strip() if isinstance(a, str) else a, kwargs.get(lab)) for lab, a in zip(labels, algos)}


def _deprecated(old: str, new: str, stacklevel: int = 4) -> None:
    warnings.warn(f"{old} is deprecated and will be removed in the next release; use {new}", DeprecationWarning,
                  stacklevel=stacklevel)


_OLD_ONLY = ("candidates", "oracle", "name")


def _old_form(factory, table, args, budget, seeds, workers, jobs, n_jobs, legacy_kw, **kw) -> ReplayResult:
    """``replay(searcher, table, budget, seeds, workers, ...)``, the call form before the one replay API."""
    _deprecated("evaluation.replay(searcher, table, budget, seeds, workers)",
                "evaluation.replay(table, searcher, budget=..., seeds=..., workers=...).result()", stacklevel=5)
    if len(args) > 3:
        raise InvalidInputError(f"replay(searcher, table, budget, seeds, workers) takes at most 5 positional "
                                f"arguments; got {2 + len(args)}")
    named = dict(zip(("budget", "seeds", "workers"), args))
    given = {"budget": budget, "seeds": seeds}
    for k, v in given.items():
        if k in named and v is not None:
            raise InvalidInputError(f"parameter {k} of replay is given twice (by position and by name)")
    budget = named.get("budget", budget)
    seeds = named.get("seeds", seeds)
    workers = named.get("workers", workers)
    if budget is None or seeds is None:
        raise InvalidInputError("replay(searcher, table, budget, seeds) needs budget and seeds")
    unknown = [k for k in legacy_kw if k not in _OLD_ONLY]
    if unknown:
        raise InvalidInputError(f"replay got an unexpected parameter {unknown[0]!r}")
    warm = kw.pop("warm_start")
    if warm is not None and not isinstance(warm, tuple):
        raise InvalidInputError("parameter warm_start of replay(searcher, table, ...) must be (functions, values)")
    return replay_one(factory, table, budget, seeds, workers, n_jobs=n_jobs if n_jobs is not None else jobs,
                      warm_start=warm, **kw, **legacy_kw)


@interrupt_message("the replay was interrupted (Ctrl-C); its processes are ended and nothing was written: run it "
                   "again (the UMAP maps computed so far are cached)")
def replay(table: Any, algorithms: Any = None, *args: Any, budget: int | None = None,
           seeds: int | Sequence[int] | None = None, workers: int = 1, jobs: int = 1, observe: str = "median",
           scheduler: str | None = None, time_budget: float | None = None, eta: int = 3, min_epochs: int = 1,
           warm_start: Any = None, baselines: bool = False, searcher_kwargs: Mapping[str, dict] | None = None,
           checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS, precision_k: int = 10,
           progress: Callable[[str, ReplayResult], None] | None = None,
           map_progress: Callable[[int, int], None] | None = None, evals: int | None = None,
           n_jobs: int | None = None, **legacy_kw: Any) -> Replay:
    """Replay searchers against benchmark tables: the tables are the oracle.

    Parameters
    ----------
    table : BenchmarkTable, pandas.DataFrame, mapping or sequence
        One table, or several (``{name: table}``, or a sequence of tables named by their ``name``). Validation
        accuracy is maximised; every score is the table's best estimate by twin group, whatever the searchers
        observe.
    algorithms : str, callable or sequence of them
        Registered searcher names (``"random"``, ``"knr:both"``, ... :func:`act_bench.search.list_searchers`) or
        factories ``f(candidates, seed) -> Searcher`` (labelled by their ``__name__``).
    budget : int
        Evaluations (with a scheduler: proposals) per run. With a scheduler, give ``budget`` or ``time_budget``.
    seeds : int or sequence of int
        Replay repetitions: ``n`` means seeds ``0 .. n-1``.
    workers : int, default=1
        Simulated evaluations in flight: each simulated worker asks for a new function as soon as its previous one
        finishes on the table's simulated clock, and results are told in completion order.
    jobs : int, default=1
        Local processes the runs are spread over (spawned: call from a ``__main__``-guarded module); every UMAP map
        the surrogates need is computed first, each once. Results do not depend on ``jobs``.
    observe : {"median", "run"}, default="median"
        What an evaluation tells the searcher: the paper's median, or one run drawn per (seed, function)
        (:meth:`evaluation.TableOracle.observations`).
    scheduler : {"none", "sh", "asha"}, optional
        A multi-fidelity scheduler between the searchers and the tables (:mod:`evaluation._schedulers`; the tables
        need learning curves, :data:`evaluation.CURVE_COLUMNS`, unless ``"none"``). A ``time_budget`` without a
        scheduler means ``"none"``.
    time_budget : float, optional
        Simulated seconds per run (a scheduled replay).
    eta, min_epochs : int
        The scheduler's reduction factor and lowest rung.
    warm_start : table, WarmStart or (functions, values), optional
        A table or :class:`WarmStart`: every searcher is told the source's results before its first ask, and the
        same replays run cold too (:attr:`Replay.cold`, :meth:`Replay.warm_start_summary`). ``(functions,
        values)``: every searcher is told these (no cold replay).
    baselines : bool, default=False
        Also replay the fair random baselines (:func:`evaluation.fair_baselines`) and, at full fidelity, give the
        exact random-search distributions in the summary.
    searcher_kwargs : mapping, optional
        ``{algorithm name: keyword arguments}`` of named searchers.
    checkpoints : sequence of int
        After this many results the surrogates' predictions are scored (full fidelity).
    precision_k : int, default=10
        k of precision@k.
    progress : callable, optional
        ``progress(algorithm, result)`` after each algorithm's replay (on each table).
    map_progress : callable, optional
        ``map_progress(done, total)`` as the UMAP maps are computed.
    evals, n_jobs : deprecated
        Old names of ``budget`` and ``jobs``.

    Returns
    -------
    Replay

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> names = [f"f{i}" for i in range(20)]
    >>> df = pd.DataFrame({"function": names, "equivalents": [[n] for n in names],
    ...                    "outputs": list(np.eye(20, dtype=np.float32)), "val_accuracy": np.linspace(0, 1, 20),
    ...                    "test_accuracy": np.linspace(0, 1, 20), "runtime": np.ones(20)})
    >>> run = replay(df, "random", budget=20, seeds=2)
    >>> float(np.nanmax(run.result().objective[0]))
    1.0
    """
    if _is_table(algorithms) and not _is_table(table):
        return _old_form(table, algorithms, args, budget, seeds, workers, jobs, n_jobs, legacy_kw,
                         searcher_kwargs=searcher_kwargs, checkpoints=checkpoints, precision_k=precision_k,
                         observe=observe, warm_start=warm_start)
    if args:
        raise InvalidInputError(f"replay takes the table and the algorithms by position and the rest by name "
                                f"(budget=, seeds=, workers=); got {2 + len(args)} positional arguments")
    if legacy_kw:
        raise InvalidInputError(f"replay got an unexpected parameter {next(iter(legacy_kw))!r}")
    if evals is not None:
        if budget is not None:
            raise InvalidInputError("replay takes budget (evals is its deprecated name), not both; got "
                                    f"budget={budget!r}, evals={evals!r}")
        _deprecated("evaluation.replay(..., evals=)", "budget=")
        budget = evals
    if n_jobs is not None:
        if jobs != 1:
            raise InvalidInputError(f"replay takes jobs (n_jobs is its deprecated name), not both; got jobs={jobs!r}, "
                                    f"n_jobs={n_jobs!r}")
        _deprecated("evaluation.replay(..., n_jobs=)", "jobs=")
        jobs = n_jobs
    return _replay(table, algorithms, budget=budget, seeds=seeds, workers=workers, jobs=jobs, observe=observe,
                   scheduler=scheduler, time_budget=time_budget, eta=eta, min_epochs=min_epochs,
                   warm_start=warm_start, baselines=baselines, searcher_kwargs=searcher_kwargs,
                   checkpoints=checkpoints, precision_k=precision_k, progress=progress, map_progress=map_progress)


def _replay(table, algorithms, *, budget, seeds, workers, jobs, observe, scheduler, time_budget, eta, min_epochs,
            warm_start, baselines, searcher_kwargs, checkpoints, precision_k, progress, map_progress) -> Replay:
    tables = _tables_of(table)
    factories = _factories(algorithms, searcher_kwargs)
    kind = None
    if scheduler is not None or time_budget is not None:
        kind, budget, time_budget, eta, min_epochs = check_scheduler_args(
            "none" if scheduler is None else scheduler, budget, time_budget, eta, min_epochs)
    elif budget is None:
        raise InvalidInputError("parameter budget of replay is required (evaluations per run), e.g. budget=100")
    if budget is not None:
        budget = check_int(budget, "budget", "replay", min_value=1)
    if seeds is None:
        raise InvalidInputError("parameter seeds of replay is required (replay repetitions), e.g. seeds=10")
    seed_list = _normalize_seeds(seeds)
    workers = check_int(workers, "workers", "replay", min_value=1)
    jobs = check_int(jobs, "jobs", "replay", min_value=1)
    precision_k = check_int(precision_k, "precision_k", "replay", min_value=1)
    observe = check_observe(observe, "replay")
    checkpoints = tuple(sorted({check_int(c, "checkpoints", "replay", min_value=1) for c in checkpoints}))
    if not isinstance(baselines, bool):
        raise InvalidInputError(f"parameter baselines of replay must be True or False; got {baselines!r}")

    algos = list(factories)
    added = []
    if baselines:
        added = [b for b in fair_baselines([a for a in algos if a in list_searchers()]) if b not in algos]
        factories.update({b: as_factory(b, None) for b in added})

    told, mode, top_n, metric = None, None, None, "val_accuracy"
    if warm_start is not None:
        if isinstance(warm_start, tuple) and len(warm_start) == 2 and not _is_table(warm_start[0]):
            functions, values = warm_start
            told, mode = (list(map(str, functions)), [float(v) for v in values]), "results"
        else:
            ws = warm_start if isinstance(warm_start, WarmStart) else WarmStart(warm_start)
            if not _is_table(ws.source):
                raise InvalidInputError(f"parameter warm_start of replay must be a table, a WarmStart or "
                                        f"(functions, values); got {type(ws.source).__name__}")
            top_n, metric = ws.top_n, ws.metric
            told, mode = warm_start_told(ws.source, top_n, metric), "table"
    settings = ReplaySettings(budget=budget, seeds=tuple(seed_list), workers=workers, jobs=jobs, observe=observe,
                              scheduler=None if kind is None else kind.value, time_budget=time_budget, eta=eta,
                              min_epochs=min_epochs, baselines=baselines, checkpoints=checkpoints,
                              precision_k=precision_k, warm_start=mode, top_n=top_n, metric=metric)
    warm = factories if told is None else {a: WarmStartFactory(f, tuple(told[0]), tuple(told[1]))
                                           for a, f in factories.items()}
    out = Replay(results={}, settings=settings, algorithms=algos, baselines=added,
                 cold={} if mode == "table" else None, told=told)
    curves = {}
    for name, t in tables.items():   # every table is checked before any replay starts
        candidates = CandidateSet.from_table(t)
        out._tables[name] = _Table(candidates, TableOracle.from_table(t, objective=metric))
        if kind is not None:
            try:
                curves[name] = scheduler_curves(t, out._tables[name].oracle, kind)
            except InvalidInputError as exc:
                raise InvalidInputError(f"table {name!r}: {exc}" if len(tables) > 1 else str(exc)) from None
    for name, t in tables.items():
        c = out._tables[name]
        if mode == "table":
            out.cold[name] = _one_table(t, c, curves.get(name), factories, settings, kind, None, map_progress)
        out.results[name] = _one_table(t, c, curves.get(name), warm, settings, kind, progress, map_progress)
    return out


def _one_table(table, c: _Table, curves, factories, s: ReplaySettings, kind, progress, map_progress
               ) -> dict[str, ReplayResult]:
    candidates, oracle = c.candidates, c.oracle
    if kind is None:
        return replay_grid_of(factories, table, s.budget, list(s.seeds), s.workers, checkpoints=s.checkpoints,
                              precision_k=s.precision_k, n_jobs=s.jobs, progress=progress, observe=s.observe,
                              map_progress=map_progress, candidates=candidates, oracle=oracle)
    compute_maps(candidates, factories, list(s.seeds), n_jobs=s.jobs, progress=map_progress)
    out: dict[str, ReplayResult] = {}
    for a, f in factories.items():
        out[a] = replay_multifidelity_one(f, table, scheduler=kind, budget=s.budget, time_budget=s.time_budget,
                                          seeds=list(s.seeds), workers=s.workers, eta=s.eta,
                                          min_epochs=s.min_epochs, candidates=candidates, oracle=oracle,
                                          curves=curves, name=a, observe=s.observe)
        if progress is not None:
            progress(a, out[a])
    return out
