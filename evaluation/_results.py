"""What a replay reads and what it gives back: :class:`TableOracle` (a table's results, looked up instead of
training) and :class:`ReplayResult` (the trajectories of one searcher over many seeds).

Observation and scoring are apart (docs/concepts.md, "Replay"):

* what a searcher is told (``observe``): ``"median"``, the paper's protocol, the row's median over the paper's seeds
  (the ``val_accuracy`` column); ``"run"``, one run of the function as a real search sees it, drawn from all its
  runs in the ``runs`` config, the same run for every searcher of a replay seed (:meth:`TableOracle.observations`);
* what a replay is scored on, always: the table's best estimate of the function, the mean of all its runs pooled
  by twin group (``act_bench.tables.group_ranking(table, by="estimate")``), for validation and test accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.search import table_frame
from act_bench.tables import group_ranking

__all__ = ["OBSERVE", "Observations", "ReplayResult", "RunSlots", "TableOracle", "check_observe", "run_slots"]

#: What a replay's searchers observe: the paper's 3-seed median, or one drawn run.
OBSERVE = ("median", "run")
#: Second word of the seed of the run draws (``default_rng([replay_seed, OBSERVE_STREAM])``), so the draws are a
#: stream of their own, apart from the searcher's generator of the same seed.
OBSERVE_STREAM = 0x0B5E


def check_observe(observe: Any, func: str) -> str:
    """Validate an ``observe`` parameter (one of :data:`OBSERVE`)."""
    if observe not in OBSERVE:
        raise InvalidInputError(f"parameter observe of {func} must be one of {', '.join(OBSERVE)}; got {observe!r}")
    return str(observe)


@dataclass(frozen=True)
class Observations:
    """What one replay seed's evaluations return, per candidate row: ``val`` (told to the searcher), ``test``,
    ``runtime`` (simulated seconds), and ``run`` (index of the drawn run among the row's runs, -1: the median)."""

    val: np.ndarray
    test: np.ndarray
    runtime: np.ndarray
    run: np.ndarray


def _group_truth(table: Any, frame, metric: str, group: np.ndarray) -> np.ndarray:
    """Per row, its twin group's best estimate of ``metric``."""
    runs = getattr(table, "runs", None)
    if runs is not None and hasattr(table, "metadata") and "twin_group" in frame.columns and "status" in frame.columns:
        ranking = group_ranking(table, metric, by="estimate")
        per_group = dict(zip(ranking["twin_group"].to_numpy(), ranking["estimate"].to_numpy(dtype=np.float64)))
        return np.array([per_group.get(int(g), np.nan) for g in frame["twin_group"].to_numpy()], dtype=np.float64)
    col = f"{metric}_mean" if f"{metric}_mean" in frame.columns else metric
    values = np.asarray(frame[col], dtype=np.float64)
    return values[group]   # a group without runs: its first row's value (as group_ranking does)


@dataclass(frozen=True)
class RunSlots:
    """Where each run of a ``runs`` config goes in a per-row matrix: ``positions`` (rows of ``runs``, sorted by
    candidate row then seed), their candidate ``row`` and ``slot`` (0, 1, ... within the row), and ``counts``."""

    positions: np.ndarray
    row: np.ndarray
    slot: np.ndarray
    counts: np.ndarray

    @property
    def width(self) -> int:
        return int(self.counts.max()) if self.counts.size else 0


def run_slots(runs, names: list[str]) -> RunSlots | None:
    """The :class:`RunSlots` of ``runs`` for candidates ``names`` (``None``: no run of a candidate)."""
    if runs is None or not len(runs) or "function" not in runs.columns:
        return None
    index = {f: i for i, f in enumerate(names)}
    row = runs["function"].map(index)
    keep = row.notna().to_numpy()
    if not keep.any():
        return None
    row = row[keep].to_numpy(dtype=np.int64)
    seed = runs["seed"].to_numpy()[keep] if "seed" in runs.columns else np.arange(row.size)
    order = np.lexsort((seed, row))
    row = row[order]
    counts = np.bincount(row, minlength=len(names)).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return RunSlots(np.flatnonzero(keep)[order], row, np.arange(row.size) - start[row], counts)


def _run_matrix(runs, names: list[str]) -> dict[str, np.ndarray] | None:
    """Per row, its runs' validation and test accuracy and runtime, (n, max runs) padded with NaN, and the counts."""
    slots = run_slots(runs, names)
    if slots is None or not {"val_accuracy", "test_accuracy"} <= set(runs.columns):
        return None
    out = {"n_runs": slots.counts}
    for key, col in (("val", "val_accuracy"), ("test", "test_accuracy"), ("runtime", "runtime")):
        m = np.full((len(names), slots.width), np.nan)
        if col in runs.columns:
            m[slots.row, slots.slot] = runs[col].to_numpy(dtype=np.float64)[slots.positions]
        out[key] = m
    return out


@dataclass(frozen=True)
class TableOracle:
    """Results of every candidate row, looked up instead of training.

    Attributes
    ----------
    objective : numpy.ndarray
        Median validation accuracy per row (the paper's column; NaN: failed): what ``observe="median"`` tells.
    test : numpy.ndarray
        Median test accuracy per row.
    runtime : numpy.ndarray
        Simulated seconds one evaluation takes (non-finite runtimes replaced by the median runtime).
    truth, truth_test : numpy.ndarray
        The best estimate of each row's validation and test accuracy: the mean of all runs of its twin group (what
        every replay is scored on). Default: ``objective`` and ``test``.
    group : numpy.ndarray of int
        Twin group of each row (its first row). Default: every row its own group.
    run_val, run_test, run_runtime : numpy.ndarray, optional
        Shape (n, max runs): each row's runs (NaN padded; runtimes filled as ``runtime``), for ``observe="run"``.
    n_runs : numpy.ndarray of int, optional
        Runs per row (0: the row has none in the ``runs`` config and ``observe="run"`` tells its median).
    """

    objective: np.ndarray
    test: np.ndarray
    runtime: np.ndarray
    truth: np.ndarray | None = None
    truth_test: np.ndarray | None = None
    group: np.ndarray | None = None
    run_val: np.ndarray | None = None
    run_test: np.ndarray | None = None
    run_runtime: np.ndarray | None = None
    n_runs: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.objective.shape[0]
        if self.truth is None:
            object.__setattr__(self, "truth", self.objective)
        if self.truth_test is None:
            object.__setattr__(self, "truth_test", self.test)
        if self.group is None:
            object.__setattr__(self, "group", np.arange(n, dtype=np.int64))
        if self.n_runs is None:
            object.__setattr__(self, "n_runs", np.zeros(n, dtype=np.int64))

    @classmethod
    def from_table(cls, table: Any, *, objective: str = "val_accuracy", test: str = "test_accuracy"
                   ) -> TableOracle:
        """The oracle of a ``BenchmarkTable`` (runs, twin groups and best estimates included) or of a ``functions``
        DataFrame (no runs: ``observe="run"`` tells the medians; estimates from ``<metric>_mean`` if present)."""
        frame, _ = table_frame(table, fim_layout=[])
        for col in (objective, test):
            if col not in frame.columns:
                raise InvalidInputError(f"the table has no column {col!r}; it has {', '.join(map(str, frame.columns))}")
        obj = np.asarray(frame[objective], dtype=np.float64)
        tst = np.asarray(frame[test], dtype=np.float64)
        if "runtime" in frame.columns:
            rt = np.asarray(frame["runtime"], dtype=np.float64)
        else:
            rt = np.ones(len(frame))
        ok = np.isfinite(rt) & (rt >= 0)
        fill = float(np.median(rt[ok])) if ok.any() else 1.0
        rt = np.where(ok, rt, fill)
        n = len(frame)
        if "twin_group" in frame.columns:
            labels = np.asarray(frame["twin_group"], dtype=np.int64)
            _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
            group = first[inverse].astype(np.int64)
        else:
            group = np.arange(n, dtype=np.int64)
        truth = _group_truth(table, frame, objective, group)
        truth_test = _group_truth(table, frame, test, group)
        names = [str(f) for f in frame["function"]]
        runs = _run_matrix(getattr(table, "runs", None), names)
        if runs is None:
            return cls(obj, tst, rt, truth, truth_test, group)
        run_rt = runs["runtime"]
        bad = ~(np.isfinite(run_rt) & (run_rt >= 0))
        run_rt = np.where(bad, rt[:, None], run_rt)
        return cls(obj, tst, rt, truth, truth_test, group, runs["val"], runs["test"], run_rt, runs["n_runs"])

    def draws(self, seed: int) -> np.ndarray:
        """Index of the run each row's evaluation returns under ``observe="run"`` for replay seed ``seed`` (uniform
        among the row's runs, -1 for a row without runs); the same for every searcher of that seed.

        Examples
        --------
        >>> o = TableOracle(np.zeros(3), np.zeros(3), np.ones(3), n_runs=np.array([3, 0, 10]))
        >>> d = o.draws(0); bool(0 <= d[0] < 3 and d[1] == -1 and 0 <= d[2] < 10), (o.draws(0) == d).all()
        (True, np.True_)
        """
        u = np.random.default_rng([int(seed), OBSERVE_STREAM]).random(self.objective.shape[0])
        k = np.floor(u * self.n_runs).astype(np.int64)
        return np.where(self.n_runs > 0, np.minimum(k, np.maximum(self.n_runs - 1, 0)), -1)

    def observations(self, observe: str, seed: int) -> Observations:
        """What the evaluations of replay seed ``seed`` return under ``observe`` (``"median"`` or ``"run"``)."""
        observe = check_observe(observe, "TableOracle.observations")
        n = self.objective.shape[0]
        if observe == "median" or self.run_val is None:
            return Observations(self.objective, self.test, self.runtime, np.full(n, -1, dtype=np.int64))
        k = self.draws(seed)
        has = k >= 0
        rows = np.arange(n)
        kk = np.where(has, k, 0)
        pick = lambda m, fallback: np.where(has, m[rows, kk], fallback)
        return Observations(pick(self.run_val, self.objective), pick(self.run_test, self.test),
                            pick(self.run_runtime, self.runtime), k)



@dataclass
class ReplayResult:
    """Trajectories of one searcher over many seeds (arrays of shape (n_seeds, budget), in completion order).

    Attributes
    ----------
    name : str
    seeds : list of int
    rows : numpy.ndarray of int
        Candidate row evaluated at each step (-1 once the candidates ran out).
    objective, test : numpy.ndarray
        The table's best estimate (:attr:`TableOracle.truth`, by twin group) of the validation and test accuracy of
        each evaluated function: what the replay is scored on (NaN after running out).
    time : numpy.ndarray
        Simulated completion time of each evaluation.
    quality : dict
        ``{checkpoint: {"spearman": array(n_seeds), "kendall": ..., "precision_at_k": ...}}`` (surrogates only).
    seconds : float
        Wall-clock time of the replay.
    map_seeds : numpy.ndarray of int, optional
        UMAP seed of the map each run used (-1: the searcher uses no map); runs that share a map are not
        independent, which the metrics' confidence intervals take into account.
    observed : numpy.ndarray, optional
        The validation accuracy the searcher was told at each step (under ``observe``).
    observe : str
        ``"median"`` or ``"run"`` (:data:`OBSERVE`).
    """

    name: str
    seeds: list[int]
    rows: np.ndarray
    objective: np.ndarray
    test: np.ndarray
    time: np.ndarray
    workers: int = 1
    quality: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    precision_k: int = 10
    seconds: float = 0.0
    map_seeds: np.ndarray | None = None
    observed: np.ndarray | None = None
    observe: str = "median"

    @property
    def budget(self) -> int:
        return int(self.rows.shape[1])

    def __repr__(self) -> str:  # the arrays are in the attributes; the repr says what the result is
        return (f"{type(self).__name__}(name={self.name!r}, seeds={len(self.seeds)}, budget={self.budget}, "
                f"workers={self.workers}, observe={self.observe!r})")
