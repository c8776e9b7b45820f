"""The replay functions before :func:`evaluation.replay` took over, kept for one release.

Each emits one :class:`DeprecationWarning` naming the new call, delegates, and returns what it returned before
(same numbers, bit for bit). They are reached as ``evaluation.<name>`` (module ``__getattr__``), not listed in
``evaluation.__all__``. Old -> new:

* ``replay_grid(algorithms, table, budget, seeds, workers, n_jobs=)`` ->
  ``replay(table, algorithms, budget=, seeds=, workers=, jobs=).results[name]``
* ``replay_multifidelity(searcher, table, scheduler=, evals=, ...)`` ->
  ``replay(table, searcher, scheduler=, budget=, ...).result()``
* ``compare(table, algorithms, evals=, n_jobs=, out_dir=, table_name=, ...)`` ->
  ``run = replay({table_name: table}, algorithms, budget=, jobs=, baselines=True)``; ``run.summary()``,
  ``run.write_figures(out_dir)``
* ``compare_multifidelity(...)`` -> the same with ``scheduler=`` / ``time_budget=``
* ``warm_start_replay(source, target, algorithms, top_n=, evals=, n_jobs=, metric=)`` ->
  ``replay(target, algorithms, budget=, jobs=, warm_start=WarmStart(source, top_n, metric),
  checkpoints=()).warm_start_summary()``
* ``replay(searcher, table, budget, seeds, workers)`` (handled in :func:`evaluation.replay` itself) ->
  ``replay(table, searcher, budget=, seeds=, workers=).result()``
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from evaluation._api import WarmStart, replay
from evaluation._replay import DEFAULT_CHECKPOINTS, FactoryLike
from evaluation._results import ReplayResult
from evaluation._schedulers import MultiFidelityResult, replay_multifidelity_one

__all__ = ["DEPRECATED", "compare", "compare_multifidelity", "replay_grid", "replay_multifidelity",
           "warm_start_replay"]


def _kw(searcher_kwargs: Mapping[str, dict] | None, algorithms: Sequence[Any]) -> dict[str, dict]:
    """The old functions read ``searcher_kwargs[name]`` of their algorithms and ignored other keys."""
    names = {a.strip() for a in algorithms if isinstance(a, str)}
    return {k: v for k, v in (searcher_kwargs or {}).items() if k in names}


def _warn(old: str, new: str) -> None:
    warnings.warn(f"evaluation.{old} is deprecated and will be removed in the next release; use {new}",
                  DeprecationWarning, stacklevel=3)


def replay_grid(algorithms: Sequence[str], table: Any, budget: int, seeds: int | Sequence[int], workers: int = 1,
                *, searcher_kwargs: dict[str, dict] | None = None, checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS,
                precision_k: int = 10, n_jobs: int = 1, progress: Callable[[str, ReplayResult], None] | None = None,
                observe: str = "median", map_progress: Callable[[int, int], None] | None = None
                ) -> dict[str, ReplayResult]:
    """Deprecated: ``evaluation.replay(table, algorithms, budget=, seeds=, workers=, jobs=).results[name]``."""
    _warn("replay_grid(algorithms, table, budget, seeds, workers, n_jobs=)",
          "evaluation.replay(table, algorithms, budget=, seeds=, workers=, jobs=).results[name]")
    run = replay({"": table}, list(algorithms), budget=budget, seeds=seeds, workers=workers, jobs=n_jobs,
                 searcher_kwargs=_kw(searcher_kwargs, algorithms), checkpoints=checkpoints, precision_k=precision_k,
                 progress=progress, observe=observe, map_progress=map_progress)
    return run.results[""]


def replay_multifidelity(searcher_factory: FactoryLike, table: Any, *, scheduler: str = "asha",
                         evals: int | None = None, time_budget: float | None = None,
                         seeds: int | Sequence[int] = 10, workers: int = 1, eta: int = 3, min_epochs: int = 1,
                         searcher_kwargs: dict | None = None, candidates: Any = None, oracle: Any = None,
                         curves: Any = None, name: str | None = None, observe: str = "median"
                         ) -> MultiFidelityResult:
    """Deprecated: ``evaluation.replay(table, searcher, scheduler=, budget=, seeds=, workers=).result()``."""
    _warn("replay_multifidelity(searcher, table, scheduler=, evals=)",
          "evaluation.replay(table, searcher, scheduler=, budget=, seeds=, workers=).result()")
    return replay_multifidelity_one(searcher_factory, table, scheduler=scheduler, budget=evals,
                                    time_budget=time_budget, seeds=seeds, workers=workers, eta=eta,
                                    min_epochs=min_epochs, searcher_kwargs=searcher_kwargs, candidates=candidates,
                                    oracle=oracle, curves=curves, name=name, observe=observe)


def compare(table: Any, algorithms: Sequence[str], *, evals: int, seeds: int | Sequence[int], workers: int = 1,
            out_dir: str | os.PathLike | None = None, table_name: str = "", n_jobs: int = 1,
            searcher_kwargs: dict[str, dict] | None = None, progress=None, baselines: bool = True,
            observe: str = "median", map_progress=None, figure_stem: str = "search_curves"
            ) -> tuple[dict[str, Any], dict]:
    """Deprecated: ``run = evaluation.replay({table_name: table}, algorithms, budget=, seeds=, jobs=,
    baselines=True)``; ``(run.summary(), run.results[table_name])``; ``run.write_figures(out_dir)``."""
    _warn("compare(table, algorithms, evals=, n_jobs=)",
          "evaluation.replay({name: table}, algorithms, budget=, seeds=, jobs=, baselines=True) and its "
          ".summary() / .write_figures(out_dir)")
    run = replay({table_name: table}, list(algorithms), budget=evals, seeds=seeds, workers=workers, jobs=n_jobs,
                 searcher_kwargs=_kw(searcher_kwargs, algorithms), progress=progress, baselines=baselines, observe=observe,
                 map_progress=map_progress)
    summary = run.summary()
    if out_dir is not None:
        run.write_figures(out_dir, stem=figure_stem)
    return summary, run.results[table_name]


def compare_multifidelity(table: Any, algorithms: Sequence[str], *, scheduler: str, evals: int | None = None,
                          time_budget: float | None = None, seeds: int | Sequence[int] = 10, workers: int = 1,
                          eta: int = 3, min_epochs: int = 1, table_name: str = "",
                          searcher_kwargs: Mapping[str, dict] | None = None,
                          out_dir: str | os.PathLike | None = None, progress=None, baselines: bool = True,
                          observe: str = "median", n_jobs: int = 1, map_progress=None
                          ) -> tuple[dict[str, Any], dict[str, ReplayResult]]:
    """Deprecated: ``evaluation.replay({table_name: table}, algorithms, scheduler=, budget= or time_budget=,
    baselines=True)`` and its ``.summary()``."""
    _warn("compare_multifidelity(table, algorithms, scheduler=, evals=, n_jobs=)",
          "evaluation.replay({name: table}, algorithms, scheduler=, budget=, jobs=, baselines=True) and its "
          ".summary() / .write_figures(out_dir)")
    run = replay({table_name: table}, list(algorithms), scheduler=scheduler, budget=evals, time_budget=time_budget,
                 seeds=seeds, workers=workers, eta=eta, min_epochs=min_epochs, searcher_kwargs=_kw(searcher_kwargs, algorithms),
                 progress=progress, baselines=baselines, observe=observe, jobs=n_jobs, map_progress=map_progress)
    summary = run.summary()
    if out_dir is not None:
        run.write_figures(out_dir)
    return summary, run.results[table_name]


def warm_start_replay(source: Any, target: Any, algorithms: Sequence[str], *, top_n: int | None = None,
                      evals: int = 100, seeds: int = 10, n_jobs: int = 1, metric: str = "val_accuracy",
                      searcher_kwargs: Mapping[str, dict] | None = None, observe: str = "median"
                      ) -> dict[str, Any]:
    """Deprecated: ``evaluation.replay(target, algorithms, budget=, seeds=, jobs=, warm_start=WarmStart(source,
    top_n, metric), checkpoints=()).warm_start_summary()``."""
    _warn("warm_start_replay(source, target, algorithms, evals=, n_jobs=)",
          "evaluation.replay(target, algorithms, budget=, seeds=, jobs=, warm_start=WarmStart(source, top_n), "
          "checkpoints=()).warm_start_summary()")
    run = replay({"": target}, list(algorithms), budget=evals, seeds=seeds, jobs=n_jobs, observe=observe,
                 warm_start=WarmStart(source, top_n, metric), searcher_kwargs=_kw(searcher_kwargs, algorithms), checkpoints=())
    return run.warm_start_summary()


#: The deprecated names ``evaluation`` still answers (one release).
DEPRECATED = {f.__name__: f for f in (compare, compare_multifidelity, replay_grid, replay_multifidelity,
                                      warm_start_replay)}
