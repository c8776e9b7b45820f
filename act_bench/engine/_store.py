"""What the job engine's journal holds: its SQLite schema, the job and entry types, and array/JSON encodings.

Tables (schema version :data:`SCHEMA_VERSION`, recorded in ``schema_version``):

=============== ================================================================================================
``config``      one JSON value per key: what the journal is (``kind``: ``build`` or ``search``), recipe, seeds,
                spaces, searcher, code version, FIM layout...
``candidates``  one row per unique function: representative, equivalents (JSON list), outputs (float32 BLOB),
                ``feature_rank`` (the order in which FIM features are computed)
``features``    FIM features of the rows computed so far (validity, reason, CDF as a float32 BLOB)
``results``     one final run record per (row, seed) (``UNIQUE``), in the order they finished (``seq``)
``claims``      jobs in flight: job key, attempt, worker, time of the claim and of the worker's last heartbeat
``failures``    every failed attempt of a job (the error of each), whether or not it was retried
``sessions``    one row per start of the driver (host, pid, executor, workers, machine, code digest)
``events``      anything else a driver records once, in order (e.g. an accepted change of code)
=============== ================================================================================================
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError, SchemaMismatchError
from act_bench.tables import CURVE_COLUMNS, METRICS, RunRecord

__all__ = ["SCHEMA_VERSION", "Claim", "Job", "JobKind", "JournalRun"]

#: Version of the journal layout this act-bench reads and writes (1: the live-search journal before builds used it).
SCHEMA_VERSION = 3

#: Older journal schema versions that :meth:`Journal.open` upgrades in place (each step one transaction; a read-only
#: open reads them as they are): version 2 lacks ``results.eval_loss_nonfinite`` (read as 0).
UPGRADES = {2: ("ALTER TABLE results ADD COLUMN eval_loss_nonfinite INTEGER NOT NULL DEFAULT 0",)}
DTYPE = "<f4"

RESULT_COLUMNS = ("seq", "row", "function", "seed", *METRICS, "runtime", "status", "error", "epochs", "device",
                  "extra", "curves", "attempts", "session", "time", "eval_loss_nonfinite")

SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ("CREATE TABLE candidates (row INTEGER PRIMARY KEY, function TEXT NOT NULL UNIQUE, equivalents TEXT NOT NULL, "
     "outputs BLOB NOT NULL, outputs_dtype TEXT NOT NULL, outputs_shape TEXT NOT NULL, "
     "feature_rank INTEGER NOT NULL UNIQUE)"),
    ("CREATE TABLE features (row INTEGER PRIMARY KEY REFERENCES candidates(row), fim_valid INTEGER NOT NULL, "
     "fim_reason TEXT, fim_cdf BLOB, fim_dtype TEXT, fim_shape TEXT, seconds REAL, session TEXT, time REAL NOT NULL)"),
    ("CREATE TABLE sessions (id TEXT PRIMARY KEY, started REAL NOT NULL, last_seen REAL, ended REAL, host TEXT, "
     "pid INTEGER, executor TEXT, workers INTEGER, budget INTEGER, hardware TEXT, code_digest TEXT)"),
    ("CREATE TABLE claims (job TEXT PRIMARY KEY, kind TEXT NOT NULL, row INTEGER NOT NULL REFERENCES candidates(row), "
     "seed INTEGER, function TEXT NOT NULL, session TEXT NOT NULL, attempt INTEGER NOT NULL, worker TEXT, "
     "time REAL NOT NULL, heartbeat REAL NOT NULL)"),
    ("CREATE TABLE results (seq INTEGER PRIMARY KEY, row INTEGER NOT NULL REFERENCES candidates(row), "
     "function TEXT NOT NULL, seed INTEGER NOT NULL, train_accuracy REAL, val_accuracy REAL, test_accuracy REAL, "
     "train_loss REAL, val_loss REAL, test_loss REAL, runtime REAL, "
     "status TEXT NOT NULL CHECK (status IN ('ok', 'diverged', 'failed')), error TEXT, epochs INTEGER, "
     "device TEXT, extra TEXT, curves TEXT, attempts INTEGER NOT NULL, session TEXT NOT NULL, time REAL NOT NULL, "
     "eval_loss_nonfinite INTEGER NOT NULL DEFAULT 0, UNIQUE (row, seed))"),
    ("CREATE TABLE failures (id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, kind TEXT NOT NULL, "
     "row INTEGER NOT NULL REFERENCES candidates(row), seed INTEGER, function TEXT NOT NULL, "
     "attempt INTEGER NOT NULL, error TEXT NOT NULL, session TEXT NOT NULL, time REAL NOT NULL)"),
    ("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, time REAL NOT NULL, "
     "value TEXT NOT NULL)"),
)


class JobKind(str, Enum):
    """What a job computes: a training run of one (function, seed), or the FIM features of one function."""

    RUN = "run"
    FIM = "fim"


@dataclass(frozen=True)
class Job:
    """One job of the engine: ``kind`` for candidate ``row`` (``function``), with a ``seed`` for runs.

    Examples
    --------
    >>> Job(JobKind.RUN, 3, "tanh(x)", 1).key, Job(JobKind.FIM, 3, "tanh(x)").key
    ('run:3:1', 'fim:3')
    """

    kind: JobKind
    row: int
    function: str
    seed: int | None = None

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.row}" + ("" if self.seed is None else f":{self.seed}")


@dataclass(frozen=True)
class Claim:
    """A job in flight: who claimed it (session), which attempt, on which worker, and its last heartbeat."""

    job: Job
    session: str
    attempt: int
    worker: str | None
    time: float
    heartbeat: float


@dataclass(frozen=True)
class JournalRun:
    """A final run record as the journal holds it: its order (``seq``), candidate row and attempts."""

    seq: int
    row: int
    record: RunRecord
    attempts: int
    session: str
    time: float

    def __getattr__(self, name: str) -> Any:
        """The run record's fields read through the entry (``entry.val_accuracy`` is ``entry.record.val_accuracy``)."""
        if name == "record":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.record, name)


def blob(values: Any) -> tuple[bytes, str, str]:
    arr = np.ascontiguousarray(np.asarray(values, dtype=DTYPE))
    return arr.tobytes(), DTYPE, json.dumps(list(arr.shape))


def array(data: bytes | None, dtype: str | None, shape: str | None, where: str) -> np.ndarray | None:
    if data is None:
        return None
    if dtype != DTYPE:
        raise SchemaMismatchError(f"{where}: arrays must be stored as {DTYPE}; found dtype {dtype!r}")
    try:
        dims = [int(d) for d in json.loads(shape or "null")]
        return np.frombuffer(data, dtype=DTYPE).reshape(dims).astype(np.float32)
    except (TypeError, ValueError) as exc:
        raise SchemaMismatchError(f"{where}: array of shape {shape!r} cannot be read ({exc})") from None


def as_float(x: Any) -> float:
    return math.nan if x is None else float(x)


def finite_or_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def dumps(value: Any) -> str:
    """JSON text of a value; floats round-trip exactly (``repr``), NaN and infinities included."""
    return json.dumps(value, sort_keys=True, allow_nan=True)


def job_of(kind: str, row: int, function: str, seed: int | None) -> Job:
    return Job(JobKind(kind), int(row), str(function), None if seed is None else int(seed))


def connect(path: Path) -> sqlite3.Connection:
    """A connection that may write (for reading only, see :func:`act_bench.engine._sqlfile.connect_readonly`)."""
    try:
        return sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    except sqlite3.Error as exc:
        raise InvalidInputError(f"cannot open journal {str(path)!r}: {exc}") from None


def insert_features(db: sqlite3.Connection, row: int, record: dict[str, Any], session: str, when: float) -> bool:
    """Insert the FIM features of ``row`` unless present (inside the caller's transaction); whether they were new."""
    cdf = record.get("fim_cdf")
    valid = bool(record.get("fim_valid")) and cdf is not None
    data, dtype, shape = blob(cdf) if cdf is not None else (None, None, None)
    cur = db.execute(
        "INSERT INTO features (row, fim_valid, fim_reason, fim_cdf, fim_dtype, fim_shape, seconds, session, time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(row) DO NOTHING",
        (int(row), int(valid), None if valid else str(record.get("fim_reason") or "invalid FIM features"), data, dtype,
         shape, finite_or_none(record.get("seconds")), session, when))
    return cur.rowcount == 1


def insert_result(db: sqlite3.Connection, row: int, record: RunRecord, attempts: int, session: str,
                  when: float) -> int:
    """Insert the final record of run (row, seed) (inside the caller's transaction); its ``seq``.

    Raises :class:`RuntimeError` for a second record of the same run: a run is journaled exactly once.
    """
    values = [None if math.isnan(v) else float(v) for v in (getattr(record, m) for m in METRICS)]  # NaN: NULL
    curves = {c: list(getattr(record, c)) for c in CURVE_COLUMNS}
    seq = int(db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM results").fetchone()[0])
    try:
        db.execute(f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) VALUES ({', '.join('?' * len(RESULT_COLUMNS))})",
                   (seq, int(row), record.function, int(record.seed), *values, finite_or_none(record.runtime),
                    str(record.status), record.error, int(record.epochs or 0), record.device, dumps(record.extra),
                    dumps(curves), int(attempts), session, when, int(bool(record.eval_loss_nonfinite))))
    except sqlite3.IntegrityError as exc:
        raise RuntimeError(f"refusing to store a second result for {record.function!r} seed {record.seed}: "
                           f"{exc}") from None
    return seq


def insert_candidates(db: sqlite3.Connection, start: int, functions: Sequence[str],
                       equivalents: Sequence[Sequence[str]], outputs: np.ndarray, ranks: Any) -> None:
    db.executemany(
        "INSERT INTO candidates (row, function, equivalents, outputs, outputs_dtype, outputs_shape, feature_rank) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        ((start + i, str(f), json.dumps([str(e) for e in eq]), *blob(outputs[i]), int(rank))
         for i, (f, eq, rank) in enumerate(zip(functions, equivalents, ranks))))


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
