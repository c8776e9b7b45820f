"""Learning curves of a table for the multi-fidelity replay (:mod:`evaluation._schedulers`).

Curves (:func:`learning_curves`): per function the median over its runs of the per-epoch validation accuracy and of
the cumulative training seconds, read from the columns :class:`CurveColumns` names (by default those of the table model,
:data:`act_bench.tables.CURVE_COLUMNS`) (on the ``functions`` rows,
else on the ``runs`` rows). The last epoch is the table's own value and runtime (so a completed run scores and costs
exactly what the full-fidelity replay charges); curves shorter than ``E`` (diverged runs) keep their last time and
end at the table's value.

With the curves on the ``runs`` rows, every run's own curve is kept too (``run_values``, ``run_seconds``; its last
epoch is the run's value and runtime), so a replay with ``observe="run"`` observes the drawn run's curve
(:meth:`LearningCurves.drawn`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.search import table_frame
from act_bench.tables import CURVE_COLUMNS
from evaluation._results import TableOracle, run_slots

__all__ = ["CURVE_COLUMNS", "DEFAULT_CURVES", "CurveColumns", "LearningCurves", "learning_curves"]


#: The table model's curve columns (:data:`act_bench.tables.CURVE_COLUMNS`, the one place that names them), of
#: which the replay reads the validation accuracy and the cumulative seconds.
_VAL_ACCURACY, _VAL_LOSS, _TRAIN_LOSS, _SECONDS = CURVE_COLUMNS


@dataclass(frozen=True)
class CurveColumns:
    """Which list-valued learning-curve columns (one entry per epoch) of a table the replay reads; by default the
    table model's (:data:`act_bench.tables.CURVE_COLUMNS`)."""

    val_accuracy: str = _VAL_ACCURACY
    seconds: str = _SECONDS  # cumulative training seconds at the end of each epoch


#: The columns the replay reads by default.
DEFAULT_CURVES = CurveColumns()


@dataclass(frozen=True)
class LearningCurves:
    """Per-function curves aligned with the candidate rows: ``values[i, e]`` is the validation accuracy after epoch
    ``e + 1`` and ``seconds[i, e]`` the cumulative training seconds to get there (non-decreasing)."""

    values: np.ndarray
    seconds: np.ndarray
    run_values: np.ndarray | None = None    # (n, max runs, epochs): each run's curve, NaN padded
    run_seconds: np.ndarray | None = None

    @property
    def epochs(self) -> int:
        return int(self.values.shape[1])

    def drawn(self, draws: np.ndarray) -> LearningCurves:
        """The curves a replay seed observes: row ``i``'s run ``draws[i]`` (-1 or no per-run curves: the median
        curve)."""
        if self.run_values is None:
            return self
        draws = np.asarray(draws)
        rows = np.flatnonzero((draws >= 0) & (draws < self.run_values.shape[1]))
        values, seconds = self.values.copy(), self.seconds.copy()
        values[rows] = self.run_values[rows, draws[rows]]
        seconds[rows] = self.run_seconds[rows, draws[rows]]
        return LearningCurves(values, seconds)


def _pad(curve: Sequence[float], width: int, fill: float) -> np.ndarray:
    v = np.asarray([] if curve is None else curve, dtype=np.float64)[:width]
    return np.concatenate([v, np.full(width - v.size, fill)])


def _column_curves(frame, names: list[str], cols: CurveColumns) -> tuple[list, list]:
    vals = {n: [] for n in names}
    secs = {n: [] for n in names}
    for fn, v, s in zip(frame["function"], frame[cols.val_accuracy], frame[cols.seconds]):
        if fn in vals and v is not None and s is not None and len(v) and len(s):
            vals[fn].append(np.asarray(v, dtype=np.float64))
            secs[fn].append(np.asarray(s, dtype=np.float64))
    return [vals[n] for n in names], [secs[n] for n in names]


def learning_curves(table: Any, oracle: TableOracle | None = None, *, columns: CurveColumns = DEFAULT_CURVES
                    ) -> LearningCurves:
    """Median learning curves of every function of ``table`` (a ``BenchmarkTable`` or a ``functions`` frame).

    Raises :class:`~act_bench.errors.InvalidInputError` when the table records no curves.

    Examples
    --------
    >>> from evaluation._synthetic import synthetic_table
    >>> c = learning_curves(synthetic_table(30, seed=0, epochs=4))
    >>> c.values.shape, bool((np.diff(c.seconds, axis=1) >= 0).all())
    ((30, 4), True)
    """
    frame, _ = table_frame(table, fim_layout=[])
    if oracle is None:
        oracle = TableOracle.from_table(table)
    names = list(frame["function"])
    need = [columns.val_accuracy, columns.seconds]
    if all(c in frame.columns for c in need):
        per_fn_v = [[np.asarray(v, dtype=np.float64)] if v is not None and len(v) else [] for v in
                    frame[columns.val_accuracy]]
        per_fn_s = [[np.asarray(s, dtype=np.float64)] if s is not None and len(s) else [] for s in
                    frame[columns.seconds]]
    else:
        runs = getattr(table, "runs", None)
        if runs is None or not all(c in runs.columns for c in need):
            raise InvalidInputError(f"the table records no learning curves (columns {', '.join(need)} on its runs "
                                    "or functions); multi-fidelity replay needs them — use --scheduler none")
        per_fn_v, per_fn_s = _column_curves(runs, names, columns)
    per_run = None
    width = max((len(v) for vs in per_fn_v for v in vs), default=0)
    if width == 0:
        raise InvalidInputError("the table's learning curves are all empty; multi-fidelity replay needs them")
    values = np.full((len(names), width), np.nan)
    seconds = np.zeros((len(names), width))
    for i, (vs, ss) in enumerate(zip(per_fn_v, per_fn_s)):
        rt = float(oracle.runtime[i])
        if vs:
            with warnings.catch_warnings():  # epochs no run of this function reached (diverged early) stay NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                values[i] = np.nanmedian(np.stack([_pad(v, width, np.nan) for v in vs]), axis=0)
            stacked = np.stack([_pad(s, width, float(s[-1])) for s in ss])
            seconds[i] = np.median(stacked, axis=0)
        else:
            seconds[i] = rt * np.arange(1, width + 1) / width
        seconds[i] = np.maximum.accumulate(np.clip(np.nan_to_num(seconds[i], nan=0.0), 0.0, rt))
        values[i, -1] = oracle.objective[i]
        seconds[i, -1] = rt
    if not all(c in frame.columns for c in need):
        per_run = _run_curves(getattr(table, "runs", None), names, columns, oracle, width)
    if per_run is None:
        return LearningCurves(values, seconds)
    return LearningCurves(values, seconds, *per_run)


def _run_curves(runs, names: list[str], columns: CurveColumns, oracle: TableOracle, width: int):
    """Every run's curve, (n, max runs, width): its last epoch is the run's own value and runtime (the value and
    cost ``observe="run"`` tells)."""
    slots = run_slots(runs, names)
    if slots is None or oracle.run_val is None:
        return None
    n = len(names)
    values = np.full((n, slots.width, width), np.nan)
    seconds = np.zeros((n, slots.width, width))
    cv, cs = runs[columns.val_accuracy].to_numpy(), runs[columns.seconds].to_numpy()
    for p, r, k in zip(slots.positions, slots.row, slots.slot):
        rt = float(oracle.run_runtime[r, k])
        v, sec = cv[p], cs[p]
        if v is not None and sec is not None and len(v) and len(sec):
            values[r, k] = _pad(v, width, np.nan)
            sec = _pad(sec, width, float(sec[-1]))
        else:
            sec = rt * np.arange(1, width + 1) / width
        seconds[r, k] = np.maximum.accumulate(np.clip(np.nan_to_num(sec, nan=0.0), 0.0, rt))
        values[r, k, -1] = oracle.run_val[r, k]
        seconds[r, k, -1] = rt
    return values, seconds
