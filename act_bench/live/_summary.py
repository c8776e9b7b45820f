"""What a live search reports: its summary, the best result of a journal, and the progress display."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from act_bench.engine import JournalRun
from act_bench.search import Result
from act_bench.tables import METRICS, RunStatus

__all__ = ["LiveSummary", "as_result", "best_result"]


@dataclass(frozen=True)
class LiveSummary:
    """What :meth:`LiveSearch.run` did.

    Attributes
    ----------
    journal : str
        Path of the journal.
    budget : int
    evaluated : int
        Functions with a final result in the journal (all sessions).
    new : int
        Of those, finished in this session.
    failed, diverged : int
        Final results with status ``failed`` / ``diverged``.
    with_features : int
        Rows whose FIM features are computed.
    best : dict or None
        ``function``, ``val_accuracy``, ``test_accuracy`` of the best ``ok`` result, ``ties`` and ``tied`` (the
        rule of ``BenchmarkTable.info()["best"]``: on a tie, the first in candidate order; :func:`best_result`).
    stopped : str
        ``"budget"``, ``"exhausted"`` (nothing left to suggest) or ``"interrupted"``.
    seconds : float
        Wall time of this session.
    """

    journal: str
    budget: int
    evaluated: int
    new: int
    failed: int
    diverged: int
    with_features: int
    best: dict[str, Any] | None
    stopped: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def best_result(results: Sequence[JournalRun]) -> dict[str, Any] | None:
    """The ``ok`` result with the highest validation accuracy (``None`` if there is none), the rule of
    ``BenchmarkTable.info()["best"]``: on a tie, the one first in candidate order (the row order of the exported
    table), with ``ties`` (how many results share that value) and ``tied`` (their functions, in that order), so the
    summary and the exported table's info name the same function."""
    ok = [r for r in results if r.record.status == RunStatus.OK.value and math.isfinite(r.record.val_accuracy)]
    if not ok:
        return None
    top = max(r.record.val_accuracy for r in ok)
    tied = sorted((r for r in ok if r.record.val_accuracy == top), key=lambda r: r.row)
    b = tied[0]
    return {"function": b.record.function, "val_accuracy": b.record.val_accuracy,
            "test_accuracy": b.record.test_accuracy, "status": b.record.status, "seq": b.seq, "ties": len(tied),
            "tied": [r.record.function for r in tied]}


def as_result(record) -> Result:
    """What the searcher is told about a run: validation accuracy (NaN for a failed run), as in a replay."""
    value = math.nan if record.status == RunStatus.FAILED.value else record.val_accuracy
    return Result(float(value), {k: float(getattr(record, k)) for k in (*METRICS, "runtime") if k != "val_accuracy"})


class Progress:
    """tqdm bar with ETA on a terminal, else one line per finished evaluation on stderr (or nothing)."""

    def __init__(self, enabled: bool | None, total: int, initial: int) -> None:
        self.enabled = bool(enabled)
        self.total, self.done, self.start_done = total, initial, initial
        self.start = time.perf_counter()
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="live search", unit="eval", smoothing=0.1)

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def evaluated(self, function: str, status: str, value: float, best: dict[str, Any] | None) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            if best:
                self.bar.set_postfix(best=f"{best['val_accuracy']:.4f}")
            return
        elapsed = time.perf_counter() - self.start
        new = self.done - self.start_done
        eta = elapsed / new * max(0, self.total - self.done) if new else float("nan")
        best_text = f" best={best['val_accuracy']:.4f} {best['function']}" if best else ""
        self.note(f"[{self.done}/{self.total}] {function}: val_accuracy={value:.4f} ({status}){best_text} "
                  f"elapsed={elapsed:.0f}s eta={eta:.0f}s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
