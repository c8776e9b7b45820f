"""What a replay reads and what it gives back: :class:`TableOracle` (a table's results, looked up instead of
training) and :class:`ReplayResult` (the trajectories of one searcher over many seeds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.search import table_frame

__all__ = ["ReplayResult", "TableOracle"]


@dataclass(frozen=True)
class TableOracle:
    """Results of every candidate row, looked up instead of training.

    Attributes
    ----------
    objective : numpy.ndarray
        Median validation accuracy per row (NaN: failed).
    test : numpy.ndarray
        Median test accuracy per row.
    runtime : numpy.ndarray
        Simulated seconds one evaluation takes (non-finite runtimes replaced by the median runtime).
    """

    objective: np.ndarray
    test: np.ndarray
    runtime: np.ndarray

    @classmethod
    def from_table(cls, table: Any, *, objective: str = "val_accuracy", test: str = "test_accuracy"
                   ) -> TableOracle:
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
        return cls(obj, tst, rt)



@dataclass
class ReplayResult:
    """Trajectories of one searcher over many seeds (arrays of shape (n_seeds, budget), in completion order).

    Attributes
    ----------
    name : str
    seeds : list of int
    rows : numpy.ndarray of int
        Candidate row evaluated at each step (-1 once the candidates ran out).
    objective, test, time : numpy.ndarray
        Validation accuracy, test accuracy and simulated completion time of each evaluation (NaN after running out).
    quality : dict
        ``{checkpoint: {"spearman": array(n_seeds), "kendall": ..., "precision_at_k": ...}}`` (surrogates only).
    seconds : float
        Wall-clock time of the replay.
    map_seeds : numpy.ndarray of int, optional
        UMAP seed of the map each run used (-1: the searcher uses no map); runs that share a map are not
        independent, which the metrics' confidence intervals take into account.
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

    @property
    def budget(self) -> int:
        return int(self.rows.shape[1])
