"""The run record: the outcome of one (function, seed) training run, as trained, journaled and tabled.

One type for every place a run travels: ``data_builders.train_run`` returns it, the job engine journals it (build and
live search alike) and the table writer reads its :data:`~act_bench.tables.RUNS_COLUMNS` from it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from act_bench.errors import SchemaMismatchError
from act_bench.tables._schema import CURVE_COLUMNS, METRICS, RunStatus

__all__ = ["RunRecord"]


@dataclass
class RunRecord:
    """Outcome of one (function, seed) run; ``diverged`` runs carry chance-level metrics, ``failed`` ones NaN.

    ``curve_*`` hold one value per finished epoch (see :data:`~act_bench.tables.CURVE_COLUMNS`); a diverged run
    keeps the epochs it finished before diverging, a run that never trained has empty curves.

    Examples
    --------
    >>> r = RunRecord.failed("relu(x)", 0, "RuntimeError: out of memory")
    >>> r.status, math.isnan(r.val_accuracy), r.error
    ('failed', True, 'RuntimeError: out of memory')
    >>> RunRecord.from_dict(r.to_dict()).error
    'RuntimeError: out of memory'
    """

    function: str
    seed: int
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    train_loss: float
    val_loss: float
    test_loss: float
    runtime: float
    status: str = RunStatus.OK.value
    error: str | None = None
    epochs: int = 0
    device: str | None = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)
    curve_val_accuracy: list[float] = field(default_factory=list)
    curve_val_loss: list[float] = field(default_factory=list)
    curve_train_loss: list[float] = field(default_factory=list)
    curve_seconds: list[float] = field(default_factory=list)
    #: The run completed training but a final evaluation loss (train, val or test) was not finite; that loss is
    #: stored as NaN and the accuracies are real (a row with a non-finite largest logit counts as wrong).
    eval_loss_nonfinite: bool = False

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict (NaN stays NaN)."""
        return asdict(self)

    @classmethod
    def failed(cls, function: str, seed: int, error: str) -> RunRecord:
        """A run that raised: NaN metrics, no curve, ``status="failed"`` and the error."""
        nan = math.nan
        return cls(function, int(seed), nan, nan, nan, nan, nan, nan, 0.0, RunStatus.FAILED.value, str(error), 0,
                   None)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "run record") -> RunRecord:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, records written before curves existed get none.

        Missing metrics read as NaN; ``function`` and ``seed`` are required.
        """
        try:
            function, seed = str(data["function"]), int(data["seed"])
        except (KeyError, TypeError, ValueError):
            raise SchemaMismatchError(f"{where} must have a function and an integer seed; got "
                                      f"{ {k: data.get(k) for k in ('function', 'seed')} }") from None
        values: dict[str, Any] = {}
        for f in fields(cls)[2:]:
            if f.name not in data or data[f.name] is None and f.name in (*METRICS, "runtime"):
                continue
            values[f.name] = data[f.name]
        for m in METRICS:
            values[m] = math.nan if values.get(m) is None else float(values[m])
        values["runtime"] = float(values.get("runtime") or 0.0)
        status = values.get("status", RunStatus.OK.value)
        if status not in {s.value for s in RunStatus}:
            raise SchemaMismatchError(f"{where}: status must be one of ok, diverged, failed; got {status!r}")
        for c in CURVE_COLUMNS:
            values[c] = [float(v) for v in values.get(c) or []]
        values["extra"] = dict(values.get("extra") or {})
        values["eval_loss_nonfinite"] = values.get("eval_loss_nonfinite") is True
        return cls(function, seed, **values)
