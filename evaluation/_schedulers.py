"""Multi-fidelity replay: successive halving and ASHA over epochs on top of any searcher, on a simulated clock.

The searcher proposes functions (``ask``); the scheduler decides how many epochs each one trains, reading the
table's recorded per-epoch learning curves instead of training, and stops runs early. Time is simulated from the
recorded cumulative training seconds with ``workers`` simulated workers, with the semantics of Syne Tune's
simulator back-end: a worker is busy for exactly the recorded time of the epochs it runs and is free again (asks for
new work) the moment that time has elapsed; events are processed in time order (ties: lower worker id first).

Fidelities ("rungs") are epochs ``r_k = min_epochs * eta**k`` below the table's number of epochs ``E``, plus ``E``.

* ``none``: every proposed function trains all ``E`` epochs; identical to :func:`evaluation.replay`.
* ``asha`` (asynchronous successive halving, Li et al. 2020, the "stopping" variant Syne Tune runs by default): a
  run reaching rung ``r_k < E`` with validation accuracy ``v`` continues iff ``v`` ranks within the top
  ``ceil(n / eta)`` of the ``n`` values recorded at that rung so far (its own included; ties rank together at the
  best position; a non-finite value stops). A freed worker immediately starts the searcher's next proposal.
* ``sh`` (synchronous successive halving, Jamieson & Talwalkar 2016): brackets of ``n_0 = eta**K`` proposals
  (``K`` = number of rungs - 1; the last bracket takes what the budget leaves) train to ``r_0``; when every run of a
  rung has finished (a barrier: idle workers wait), the best ``max(1, n_k // eta)`` continue to the next rung (ties:
  earlier proposal first). Runs of a rung go to the earliest free worker in proposal order; brackets run one after
  the other.

A run that stops early is told to the searcher once, when it stops, with its validation accuracy at that epoch
(``Result.metrics``: ``epochs``, ``fidelity``); a run that completes is told its final value. What the curves are is
the ``observe`` model: ``"median"``, the per-epoch median over the function's runs ending at its table value;
``"run"``, the curve of the run drawn for this replay seed and function (:meth:`TableOracle.draws`), ending at that
run's value and runtime. In the trajectory (:class:`MultiFidelityResult`) every proposal is one entry in stopping
order; ``objective``/``test`` hold the table's best estimates (by twin group) of completed runs only (NaN for stopped
runs), so best-so-far curves, "evaluations to the top 1%" and regret measure functions actually trained to the end
and compare directly with full-fidelity searchers at equal simulated time (``time`` is the simulated clock when the
entry stopped); ``observed`` and ``epochs`` give what the scheduler saw.

Budgets: ``budget`` (proposals) or ``time_budget`` (simulated seconds: no proposal starts at or after it, and runs
still going at that time are not reported).
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.search import CandidateSet, Result, Suggestion
from act_bench.utils import check_float, check_int
from evaluation._curves import LearningCurves, learning_curves
from evaluation._replay import FactoryLike, _normalize_seeds, as_factory
from evaluation._results import Observations, ReplayResult, TableOracle, check_observe

__all__ = ["MultiFidelityResult", "SchedulerKind", "check_scheduler", "replay_multifidelity_one", "rung_epochs",
           "scheduler_curves"]


class SchedulerKind(str, Enum):
    """Multi-fidelity schedulers of the replay."""

    NONE = "none"
    SH = "sh"
    ASHA = "asha"


def rung_epochs(max_epochs: int, min_epochs: int = 1, eta: int = 3) -> list[int]:
    """Rung levels ``min_epochs * eta**k < max_epochs``, then ``max_epochs``.

    Examples
    --------
    >>> rung_epochs(9, 1, 3), rung_epochs(6, 1, 3), rung_epochs(6, 2, 2)
    ([1, 3, 9], [1, 3, 6], [2, 4, 6])
    """
    max_epochs = check_int(max_epochs, "max_epochs", "rung_epochs", min_value=1)
    min_epochs = check_int(min_epochs, "min_epochs", "rung_epochs", min_value=1)
    eta = check_int(eta, "eta", "rung_epochs", min_value=2)
    out, r = [], min_epochs
    while r < max_epochs:
        out.append(r)
        r *= eta
    return out + [max_epochs]


@dataclass
class MultiFidelityResult(ReplayResult):
    """A :class:`ReplayResult` of a scheduled replay; one entry per proposal, in stopping order.

    Extra attributes (arrays of shape (n_seeds, width), padded with -1/NaN): ``epochs`` trained, ``observed``
    validation accuracy at that epoch, ``start`` (simulated time its first epoch began), ``trial_ids`` (proposal
    number given by the searcher); ``simulated_seconds`` per
    seed (clock of the last reported entry); ``scheduler``, ``rungs``.
    """

    epochs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    start: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    trial_ids: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    simulated_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scheduler: str = SchedulerKind.NONE.value
    rungs: list[int] = field(default_factory=list)


@dataclass
class _Trial:
    sugg: Suggestion
    start: float
    epochs: int = 0       # epochs trained so far
    rung: int = -1        # index of the rung being trained towards (or reached)
    target: int = 0       # epochs at the end of the current job


class _Run:
    """State of one seed's scheduled replay."""

    def __init__(self, searcher, oracle: TableOracle, curves: LearningCurves, rungs: list[int], eta: int,
                 evals: int | None, time_budget: float | None, obs: Observations) -> None:
        self.searcher, self.oracle, self.curves, self.rungs, self.eta = searcher, oracle, curves, rungs, eta
        self.obs = obs
        self.evals, self.time_budget = evals, time_budget
        self.started = 0
        self.entries: list[tuple] = []  # (time, order, row, objective, test, epochs, observed, start, trial_id)
        self.rung_values: list[list[float]] = [[] for _ in rungs]

    def can_start(self, at: float) -> bool:
        if self.evals is not None and self.started >= self.evals:
            return False
        return self.time_budget is None or at < self.time_budget

    def propose(self, at: float) -> _Trial | None:
        if not self.can_start(at):
            return None
        sugg = self.searcher.ask(1)
        if not sugg:
            return None
        self.started += 1
        return _Trial(sugg[0], at)

    def cost(self, trial: _Trial, to_epochs: int) -> float:
        s = self.curves.seconds[trial.sugg.index]
        before = float(s[trial.epochs - 1]) if trial.epochs else 0.0
        return float(s[to_epochs - 1]) - before

    def within(self, at: float) -> bool:
        return self.time_budget is None or at <= self.time_budget

    def finish(self, trial: _Trial, at: float) -> None:
        """Tell the searcher and record the entry (the trial has trained ``trial.epochs`` epochs)."""
        r = trial.sugg.index
        full = trial.epochs >= self.curves.epochs
        seen = float(self.curves.values[r, trial.epochs - 1])
        value = float(self.obs.val[r]) if full else seen
        self.searcher.tell(trial.sugg, Result(value, {
            "test_accuracy": float(self.obs.test[r]) if full else math.nan,
            "epochs": float(trial.epochs), "fidelity": trial.epochs / self.curves.epochs,
            "runtime": self.cost(_Trial(trial.sugg, 0.0), trial.epochs)}))
        obj = float(self.oracle.truth[r]) if full else math.nan
        tst = float(self.oracle.truth_test[r]) if full else math.nan
        self.entries.append((at, len(self.entries), r, obj, tst, trial.epochs, seen, trial.start,
                             trial.sugg.trial_id))


def _run_none_or_asha(run: _Run, workers: int, asha: bool) -> None:
    heap: list[tuple[float, int, int, _Trial]] = []  # (time, worker, tiebreak, trial)
    seq = 0

    def launch(trial: _Trial | None, w: int, at: float) -> None:
        nonlocal seq
        if trial is None:
            return
        k = trial.rung + 1
        target = run.rungs[k] if asha else run.curves.epochs
        end = at + run.cost(trial, target)
        trial.rung = k if asha else len(run.rungs) - 1
        trial.target = target
        heapq.heappush(heap, (end, w, seq, trial))
        seq += 1

    for w in range(workers):
        launch(run.propose(0.0), w, 0.0)
    while heap:
        at, w, _, trial = heapq.heappop(heap)
        if not run.within(at):
            continue  # still running when the budget ran out: not reported, the worker stops
        trial.epochs = trial.target
        if trial.epochs < run.curves.epochs:
            v = float(run.curves.values[trial.sugg.index, trial.epochs - 1])
            recorded = run.rung_values[trial.rung]
            recorded.append(v)
            n_better = sum(1 for x in recorded if x > v)
            if math.isfinite(v) and n_better + 1 <= math.ceil(len(recorded) / run.eta):
                launch(trial, w, at)
                continue
        run.finish(trial, at)
        launch(run.propose(at), w, at)


def _run_sh(run: _Run, workers: int) -> None:
    clock = 0.0
    n_rungs = len(run.rungs)
    bracket_size = run.eta ** (n_rungs - 1)
    while run.can_start(clock):
        trials: list[_Trial] = []
        while len(trials) < bracket_size:
            t = run.propose(clock)
            if t is None:
                break
            trials.append(t)
        if not trials:
            return
        for k, target in enumerate(run.rungs):
            free = [clock] * workers
            ends = []
            for t in trials:  # proposal order, earliest free worker (lowest id on ties)
                w = int(np.argmin(free))
                begin = free[w]
                if k == 0:
                    t.start = begin
                free[w] = begin + run.cost(t, target)
                ends.append(free[w])
            barrier = max(ends)
            for t in trials:
                t.epochs = target
            if not run.within(barrier):
                # the rung does not finish within the budget: report the runs that did (completed runs only)
                for t, e in sorted(zip(trials, ends), key=lambda p: p[1]):
                    if run.within(e) and target == run.curves.epochs:
                        run.finish(t, e)
                return
            clock = barrier
            if target == run.curves.epochs:
                for t, e in sorted(zip(trials, ends), key=lambda p: p[1]):
                    run.finish(t, e)
                break
            vals = [float(run.curves.values[t.sugg.index, target - 1]) for t in trials]
            order = sorted(range(len(trials)), key=lambda i: (-vals[i] if math.isfinite(vals[i]) else math.inf, i))
            keep = set(order[:max(1, len(trials) // run.eta)])
            for i, t in enumerate(trials):
                if i not in keep:
                    run.finish(t, barrier)
            trials = [t for i, t in enumerate(trials) if i in keep]


def _one_seed(factory, candidates, oracle, curves, rungs, eta, kind, evals, time_budget, seed, workers,
              observe="median"):
    obs = oracle.observations(observe, seed)
    if observe == "run":
        curves = curves.drawn(obs.run)
    run = _Run(factory(candidates, seed), oracle, curves, rungs, eta, evals, time_budget, obs)
    if kind is SchedulerKind.SH:
        _run_sh(run, workers)
    else:
        _run_none_or_asha(run, workers, kind is SchedulerKind.ASHA)
    run.entries.sort(key=lambda e: (e[0], e[1]))
    map_seed = getattr(run.searcher, "map_seed", None)
    return run.entries, -1 if map_seed is None else int(map_seed)


def check_scheduler(scheduler: Any, func: str = "replay") -> SchedulerKind:
    """Validate a ``scheduler`` parameter (a :class:`SchedulerKind` or its value)."""
    kind_text = scheduler.value if isinstance(scheduler, SchedulerKind) else scheduler
    valid = [k.value for k in SchedulerKind]
    if kind_text not in valid:
        raise InvalidInputError(f"parameter scheduler of {func} must be one of {', '.join(valid)}; got {scheduler!r}")
    return SchedulerKind(kind_text)


def check_scheduler_args(scheduler: Any, budget: Any, time_budget: Any, eta: Any, min_epochs: Any
                         ) -> tuple[SchedulerKind, int | None, float | None, int, int]:
    """The scheduled replay's settings, checked: the scheduler, exactly one of ``budget`` (evaluations) and
    ``time_budget`` (simulated seconds, > 0), ``eta`` >= 2 and ``min_epochs`` >= 1."""
    kind = check_scheduler(scheduler)
    if (budget is None) == (time_budget is None):
        raise InvalidInputError("replay with a scheduler needs exactly one of budget and time_budget; got "
                                f"budget={budget!r}, time_budget={time_budget!r}")
    if budget is not None:
        budget = check_int(budget, "budget", "replay", min_value=1)
    if time_budget is not None:
        time_budget = check_float(time_budget, "time_budget", "replay", min_value=0.0)
        if time_budget <= 0:
            raise InvalidInputError(f"parameter time_budget of replay must be > 0; got {time_budget}")
    return (kind, budget, time_budget, check_int(eta, "eta", "replay", min_value=2),
            check_int(min_epochs, "min_epochs", "replay", min_value=1))


def scheduler_curves(table: Any, oracle: TableOracle, kind: SchedulerKind) -> LearningCurves:
    """The curves a scheduled replay reads: the table's learning curves; for ``none``, a table without curves has
    one "epoch" per function (and per run) worth its value and runtime."""
    try:
        return learning_curves(table, oracle)
    except InvalidInputError:
        if kind is not SchedulerKind.NONE:
            raise
    # full fidelity needs no curve: one "epoch" worth the table's value and runtime
    curves = LearningCurves(oracle.objective[:, None].copy(), oracle.runtime[:, None].copy())
    if oracle.run_val is not None:   # each run: one "epoch" worth its value and runtime
        curves = LearningCurves(curves.values, curves.seconds, oracle.run_val[:, :, None].copy(),
                                oracle.run_runtime[:, :, None].copy())
    return curves


def replay_multifidelity_one(searcher_factory: FactoryLike, table: Any, *, scheduler: str = "asha",
                             budget: int | None = None, time_budget: float | None = None,
                             seeds: int | Sequence[int] = 10, workers: int = 1, eta: int = 3, min_epochs: int = 1,
                             searcher_kwargs: dict | None = None, candidates: CandidateSet | None = None,
                             oracle: TableOracle | None = None, curves: LearningCurves | None = None,
                             name: str | None = None, observe: str = "median") -> MultiFidelityResult:
    """Replay one searcher under a multi-fidelity scheduler (see the module docstring for the exact rules); the
    engine of :func:`evaluation.replay` with a ``scheduler``, which is the public entry point.

    Parameters
    ----------
    searcher_factory : str or callable
        A registered searcher name or ``f(candidates, seed) -> Searcher``.
    table : BenchmarkTable or pandas.DataFrame
        The oracle, with learning curves (:data:`CURVE_COLUMNS`) unless ``scheduler="none"``.
    scheduler : {"none", "sh", "asha"}
    budget : int, optional
        Proposals per run. Exactly one of ``budget`` and ``time_budget`` is required.
    time_budget : float, optional
        Simulated seconds per run.
    seeds : int or sequence of int
    workers : int
        Simulated parallel workers.
    eta : int
        Reduction factor (keep the top ``1/eta``).
    min_epochs : int
        Epochs of the lowest rung.
    observe : {"median", "run"}
        What the scheduler and the searcher see: the median curves, or each function's drawn run's curve
        (:func:`evaluation.replay`); scores are the best estimates either way.

    Examples
    --------
    >>> from evaluation._synthetic import synthetic_table
    >>> df = synthetic_table(60, seed=0, epochs=9)
    >>> res = replay_multifidelity_one("random", df, scheduler="asha", budget=30, seeds=2, workers=2)
    >>> res.scheduler, res.rungs, int((res.rows[0] >= 0).sum())
    ('asha', [1, 3, 9], 30)
    """
    kind, budget, time_budget, eta, min_epochs = check_scheduler_args(scheduler, budget, time_budget, eta,
                                                                      min_epochs)
    workers = check_int(workers, "workers", "replay", min_value=1)
    seeds = _normalize_seeds(seeds)
    observe = check_observe(observe, "replay")
    factory = as_factory(searcher_factory, searcher_kwargs)
    if candidates is None:
        candidates = CandidateSet.from_table(table)
    if oracle is None:
        oracle = TableOracle.from_table(table)
    if curves is None:
        curves = scheduler_curves(table, oracle, kind)
    rungs = [curves.epochs] if kind is SchedulerKind.NONE else rung_epochs(curves.epochs, min(min_epochs,
                                                                                              curves.epochs), eta)
    label = name or (searcher_factory if isinstance(searcher_factory, str) else getattr(
        searcher_factory, "__name__", type(searcher_factory).__name__))
    t0 = time.perf_counter()
    outcomes = [_one_seed(factory, candidates, oracle, curves, rungs, eta, kind, budget, time_budget, s, workers,
                          observe) for s in seeds]
    per_seed = [entries for entries, _ in outcomes]
    map_seeds = np.array([m for _, m in outcomes], dtype=np.int64)
    width = max(1, max(len(e) for e in per_seed))
    shape = (len(seeds), width)
    rows = np.full(shape, -1, dtype=np.int64)
    arrays = {k: np.full(shape, np.nan) for k in ("objective", "test", "time", "observed", "start")}
    epochs = np.zeros(shape, dtype=np.int64)
    trial_ids = np.full(shape, -1, dtype=np.int64)
    used = np.zeros(len(seeds))
    for s, entries in enumerate(per_seed):
        for j, (at, _, r, obj, tst, ep, seen, start, tid) in enumerate(entries):
            rows[s, j], epochs[s, j], trial_ids[s, j] = r, ep, tid
            for k, v in zip(("time", "objective", "test", "observed", "start"), (at, obj, tst, seen, start)):
                arrays[k][s, j] = v
        used[s] = entries[-1][0] if entries else 0.0
    return MultiFidelityResult(name=str(label), seeds=list(seeds), rows=rows, objective=arrays["objective"],
                               test=arrays["test"], time=arrays["time"], workers=workers,
                               seconds=time.perf_counter() - t0, map_seeds=map_seeds, epochs=epochs,
                               observed=arrays["observed"], observe=observe, start=arrays["start"],
                               trial_ids=trial_ids, simulated_seconds=used, scheduler=kind.value, rungs=rungs)
