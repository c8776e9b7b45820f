"""The live-search journal: one SQLite file holding everything a search knows, so a killed driver can resume.

Tables (schema version :data:`SCHEMA_VERSION`, recorded in ``schema_version``):

=============== ================================================================================================
``config``      searcher-independent state, one JSON value per key (recipe, spaces, searcher, seeds, layout...)
``candidates``  one row per unique function: representative, equivalents (JSON list), outputs (float32 BLOB),
                ``feature_rank`` (the order in which FIM features are computed)
``features``    FIM features of the rows computed so far (validity, reason, CDF as a float32 BLOB)
``sessions``    one row per start of the driver
``claims``      training runs in flight (row, session, attempt, time); at most one per row
``results``     one final result per row and per function (``UNIQUE``), in the order they were told (``seq``)
``failures``    every failed attempt (exception in a worker), whether or not it was retried
=============== ================================================================================================

Writes happen in short ``BEGIN IMMEDIATE`` transactions in WAL mode with ``synchronous=FULL``; SQL is always
parameterised. Arrays are stored as little-endian float32 bytes with explicit dtype and shape columns (no pickle).
Only one driver may hold a journal at a time (an advisory ``flock`` on ``<journal>.lock``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from act_bench._io import try_lock
from act_bench.errors import InvalidInputError, JournalBusyError, SchemaMismatchError

__all__ = ["SCHEMA_VERSION", "JournalBusyError", "JournalResult", "LiveJournal"]

#: Version of the journal layout this act-bench reads and writes.
SCHEMA_VERSION = 1
_DTYPE = "<f4"
_RESULT_METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss", "test_loss")

_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ("CREATE TABLE candidates (row INTEGER PRIMARY KEY, function TEXT NOT NULL UNIQUE, equivalents TEXT NOT NULL, "
     "outputs BLOB NOT NULL, outputs_dtype TEXT NOT NULL, outputs_shape TEXT NOT NULL, "
     "feature_rank INTEGER NOT NULL UNIQUE)"),
    ("CREATE TABLE features (row INTEGER PRIMARY KEY REFERENCES candidates(row), fim_valid INTEGER NOT NULL, "
     "fim_reason TEXT, fim_cdf BLOB, fim_dtype TEXT, fim_shape TEXT, seconds REAL, session TEXT, time REAL NOT NULL)"),
    ("CREATE TABLE sessions (id TEXT PRIMARY KEY, started REAL NOT NULL, last_seen REAL, ended REAL, host TEXT, "
     "pid INTEGER, executor TEXT, workers INTEGER, budget INTEGER)"),
    ("CREATE TABLE claims (row INTEGER PRIMARY KEY REFERENCES candidates(row), function TEXT NOT NULL, "
     "session TEXT NOT NULL, attempt INTEGER NOT NULL, time REAL NOT NULL)"),
    ("CREATE TABLE results (seq INTEGER PRIMARY KEY, row INTEGER NOT NULL UNIQUE REFERENCES candidates(row), "
     "function TEXT NOT NULL UNIQUE, seed INTEGER NOT NULL, train_accuracy REAL, val_accuracy REAL, "
     "test_accuracy REAL, train_loss REAL, val_loss REAL, test_loss REAL, runtime REAL, "
     "status TEXT NOT NULL CHECK (status IN ('ok', 'diverged', 'failed')), error TEXT, epochs INTEGER, "
     "device TEXT, attempts INTEGER NOT NULL, session TEXT NOT NULL, time REAL NOT NULL)"),
    ("CREATE TABLE failures (id INTEGER PRIMARY KEY AUTOINCREMENT, row INTEGER NOT NULL REFERENCES candidates(row), "
     "function TEXT NOT NULL, attempt INTEGER NOT NULL, error TEXT NOT NULL, session TEXT NOT NULL, "
     "time REAL NOT NULL)"),
)


@dataclass(frozen=True)
class JournalResult:
    """One final result of the journal (a row of ``results``)."""

    seq: int
    row: int
    function: str
    seed: int
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    train_loss: float
    val_loss: float
    test_loss: float
    runtime: float
    status: str
    error: str | None
    epochs: int | None
    device: str | None
    attempts: int
    session: str
    time: float

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _blob(values: Any) -> tuple[bytes, str, str]:
    arr = np.ascontiguousarray(np.asarray(values, dtype=_DTYPE))
    return arr.tobytes(), _DTYPE, json.dumps(list(arr.shape))


def _array(blob: bytes | None, dtype: str | None, shape: str | None, where: str) -> np.ndarray | None:
    if blob is None:
        return None
    if dtype != _DTYPE:
        raise SchemaMismatchError(f"{where}: arrays must be stored as {_DTYPE}; found dtype {dtype!r}")
    try:
        dims = [int(d) for d in json.loads(shape or "null")]
        return np.frombuffer(blob, dtype=_DTYPE).reshape(dims).astype(np.float32)
    except (TypeError, ValueError) as exc:
        raise SchemaMismatchError(f"{where}: array of shape {shape!r} cannot be read ({exc})") from None


def _float(x: Any) -> float:
    return math.nan if x is None else float(x)


def _finite_or_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class LiveJournal:
    """A live-search journal (SQLite). Use :meth:`create` for a new file and :meth:`open` for an existing one.

    Parameters
    ----------
    path : path
        The journal file.
    connection : sqlite3.Connection
        An open connection (autocommit mode; transactions are explicit).

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "search.sqlite")
    >>> j = LiveJournal.create(path, config={"searcher": "random"}, functions=["relu(x)", "tanh(x)"],
    ...                        equivalents=[["relu(x)"], ["tanh(x)"]], outputs=np.zeros((2, 3), np.float32),
    ...                        feature_rank=[1, 0])
    >>> j.config()["searcher"], j.counts()["unique"]
    ('random', 2)
    >>> j.close()
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._lock_fd: int | None = None

    # -- opening ------------------------------------------------------------------------------------------------

    @staticmethod
    def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
        try:
            if readonly:
                db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                     timeout=30.0)
            else:
                db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise InvalidInputError(f"cannot open journal {str(path)!r}: {exc}") from None
        return db

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False) -> LiveJournal:
        """Open an existing journal, checking that it is a live-search journal of :data:`SCHEMA_VERSION`.

        Nothing is written before the check passes, so a journal of another version is left untouched.
        """
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"journal {str(path)!r} does not exist")
        db = cls._connect(path, readonly=readonly)
        try:
            version = cls._read_version(db, path)
            if version != SCHEMA_VERSION:
                raise SchemaMismatchError(
                    f"journal {str(path)!r} has live-journal schema version {version}; this act-bench reads version "
                    f"{SCHEMA_VERSION} (use the act-bench that wrote it, or start a new --journal)")
            if not readonly:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            db.close()
            raise
        return cls(path, db)

    @staticmethod
    def _read_version(db: sqlite3.Connection, path: Path) -> int:
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise SchemaMismatchError(f"journal {str(path)!r} is not a live-search journal (SQLite says: {exc})") \
                from None
        if "schema_version" not in tables:
            raise SchemaMismatchError(f"journal {str(path)!r} is an SQLite file but not a live-search journal (no "
                                      f"schema_version table)")
        rows = db.execute("SELECT version FROM schema_version").fetchall()
        if len(rows) != 1 or not isinstance(rows[0][0], int):
            raise SchemaMismatchError(f"journal {str(path)!r} has a malformed schema_version table")
        return int(rows[0][0])

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, config: dict[str, Any], functions: Sequence[str],
               equivalents: Sequence[Sequence[str]], outputs: np.ndarray, feature_rank: Sequence[int]) -> LiveJournal:
        """Create a new journal atomically (written to a temporary file in the same folder, then linked in place).

        Raises
        ------
        InvalidInputError
            If ``path`` exists or its folder does not exist or is not writable.
        """
        path = Path(path)
        if path.exists():
            raise InvalidInputError(f"journal {str(path)!r} already exists")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise InvalidInputError(f"cannot create journal {str(path)!r}: folder {str(folder)!r} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InvalidInputError(f"cannot create journal {str(path)!r}: folder {str(folder)!r} is not writable")
        outputs = np.asarray(outputs, dtype=np.float32)
        if not (len(functions) == len(equivalents) == outputs.shape[0] == len(feature_rank)):
            raise InvalidInputError("functions, equivalents, outputs and feature_rank must have one entry per row")
        tmp = folder / f".{path.name}.{os.getpid()}.tmp"
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{tmp}{suffix}")
        try:
            db = sqlite3.connect(str(tmp), isolation_level=None, timeout=30.0)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("BEGIN IMMEDIATE")
                for stmt in _SCHEMA:
                    db.execute(stmt)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                db.executemany("INSERT INTO config (key, value) VALUES (?, ?)",
                               [(k, json.dumps(v, sort_keys=True)) for k, v in config.items()])
                db.executemany(
                    "INSERT INTO candidates (row, function, equivalents, outputs, outputs_dtype, outputs_shape, "
                    "feature_rank) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ((i, str(f), json.dumps([str(e) for e in eq]), *_blob(outputs[i]), int(rank))
                     for i, (f, eq, rank) in enumerate(zip(functions, equivalents, feature_rank))))
                db.execute("COMMIT")
            finally:
                db.close()
            try:
                os.link(tmp, path)  # fails if another process created the journal meanwhile
            except FileExistsError:
                raise InvalidInputError(f"journal {str(path)!r} already exists") from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                os.replace(tmp, path)  # file systems without hard links
        except sqlite3.Error as exc:
            raise InvalidInputError(f"cannot create journal {str(path)!r}: {exc}") from None
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{tmp}{suffix}")
        return cls.open(path)

    # -- locking ------------------------------------------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def acquire(self) -> None:
        """Take the driver lock (non-blocking); raises :class:`JournalBusyError` if another driver holds it."""
        if self._lock_fd is not None:
            return
        try:
            fd, held = try_lock(self.lock_path)
        except OSError as exc:
            raise InvalidInputError(f"cannot lock journal {str(self.path)!r}: {exc.strerror}") from None
        if not held:
            os.close(fd)
            raise JournalBusyError(f"journal {str(self.path)!r} is in use by another running live search "
                                   f"(lock {str(self.lock_path)!r}); wait for it to finish or stop it")
        self._lock_fd = fd

    def driver_alive(self) -> bool:
        """Whether some driver currently holds the lock (for status reports)."""
        if self._lock_fd is not None:
            return True
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def close(self) -> None:
        """Close the connection and release the driver lock."""
        self._db.close()
        if self._lock_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock_path)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> LiveJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading ------------------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM config")}

    def set_config(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                       "excluded.value", (key, json.dumps(value, sort_keys=True)))

    def candidates(self) -> tuple[list[str], list[list[str]], np.ndarray, np.ndarray]:
        """``(functions, equivalents, outputs (n, k) float32, feature_rank (n,))`` in row order."""
        names, eqs, outs, ranks = [], [], [], []
        for expect, (row, f, eq, blob, dtype, shape, rank) in enumerate(self._db.execute(
                "SELECT row, function, equivalents, outputs, outputs_dtype, outputs_shape, feature_rank "
                "FROM candidates ORDER BY row")):
            if row != expect:
                raise SchemaMismatchError(f"journal {str(self.path)!r}: candidate rows are not 0..n-1")
            names.append(f)
            eqs.append(list(json.loads(eq)))
            outs.append(_array(blob, dtype, shape, f"journal {self.path} candidate {f}"))
            ranks.append(int(rank))
        outputs = np.stack(outs) if outs else np.zeros((0, 0), np.float32)
        return names, eqs, outputs, np.asarray(ranks, dtype=np.int64)

    def n_candidates(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0])

    def features(self) -> dict[int, dict[str, Any]]:
        """``{row: {"fim_valid", "fim_reason", "fim_cdf" (float32 array or None), "seconds"}}``."""
        out = {}
        for row, valid, reason, blob, dtype, shape, seconds in self._db.execute(
                "SELECT row, fim_valid, fim_reason, fim_cdf, fim_dtype, fim_shape, seconds FROM features"):
            out[int(row)] = {"fim_valid": bool(valid), "fim_reason": reason,
                             "fim_cdf": _array(blob, dtype, shape, f"journal {self.path} features of row {row}"),
                             "seconds": _float(seconds)}
        return out

    def featured_rows(self) -> set[int]:
        return {int(r[0]) for r in self._db.execute("SELECT row FROM features")}

    def n_features(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM features").fetchone()[0])

    def results(self) -> list[JournalResult]:
        """Final results in the order they were told to the searcher."""
        out = []
        for r in self._db.execute(
                "SELECT seq, row, function, seed, train_accuracy, val_accuracy, test_accuracy, train_loss, val_loss, "
                "test_loss, runtime, status, error, epochs, device, attempts, session, time FROM results "
                "ORDER BY seq"):
            seq, row, f, seed, *metrics = r[:11]
            out.append(JournalResult(int(seq), int(row), f, int(seed), *(_float(m) for m in metrics), r[11], r[12],
                                     r[13], r[14], int(r[15]), r[16], float(r[17])))
        return out

    def n_results(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def claims(self) -> list[tuple[int, str, str, int]]:
        """``(row, function, session, attempt)`` of the runs in flight, oldest first."""
        return [(int(r), f, s, int(a)) for r, f, s, a in
                self._db.execute("SELECT row, function, session, attempt FROM claims ORDER BY time, row")]

    def failures(self) -> list[dict[str, Any]]:
        return [{"row": int(r), "function": f, "attempt": int(a), "error": e, "session": s, "time": float(t)}
                for r, f, a, e, s, t in self._db.execute(
                    "SELECT row, function, attempt, error, session, time FROM failures ORDER BY id")]

    def attempts(self, row: int) -> int:
        """Failed attempts recorded for ``row``."""
        return int(self._db.execute("SELECT COUNT(*) FROM failures WHERE row = ?", (row,)).fetchone()[0])

    def sessions(self) -> list[dict[str, Any]]:
        cols = ("id", "started", "last_seen", "ended", "host", "pid", "executor", "workers", "budget")
        return [dict(zip(cols, r)) for r in self._db.execute(
            "SELECT id, started, last_seen, ended, host, pid, executor, workers, budget FROM sessions "
            "ORDER BY started")]

    def counts(self) -> dict[str, int]:
        """Row counts: ``unique`` (rows), ``spellings``, ``with_features``, ``valid_features``, ``evaluated``,
        ``running``, ``failed``, ``diverged``, ``failed_attempts``."""
        q = self._db.execute
        spellings = sum(len(json.loads(e)) for (e,) in q("SELECT equivalents FROM candidates"))
        return {
            "unique": self.n_candidates(),
            "spellings": spellings,
            "with_features": self.n_features(),
            "valid_features": int(q("SELECT COUNT(*) FROM features WHERE fim_valid = 1").fetchone()[0]),
            "evaluated": self.n_results(),
            "running": int(q("SELECT COUNT(*) FROM claims").fetchone()[0]),
            "failed": int(q("SELECT COUNT(*) FROM results WHERE status = 'failed'").fetchone()[0]),
            "diverged": int(q("SELECT COUNT(*) FROM results WHERE status = 'diverged'").fetchone()[0]),
            "failed_attempts": int(q("SELECT COUNT(*) FROM failures").fetchone()[0]),
        }

    # -- writing (driver only) ----------------------------------------------------------------------------------

    def start_session(self, session: str, *, executor: str, workers: int, budget: int) -> list[tuple[int, str]]:
        """Record a new session and release every claim (they belong to dead sessions: the lock is ours).

        Returns the released ``(row, function)`` pairs, oldest first, so the driver can resubmit them.
        """
        now = time.time()
        with self.transaction() as db:
            released = [(int(r), f) for r, f in db.execute("SELECT row, function FROM claims ORDER BY time, row")]
            db.execute("DELETE FROM claims")
            db.execute("INSERT INTO sessions (id, started, last_seen, host, pid, executor, workers, budget) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (session, now, now, os.uname().nodename, os.getpid(), executor, workers, budget))
        return released

    def end_session(self, session: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE sessions SET ended = ?, last_seen = ? WHERE id = ?", (time.time(), time.time(),
                                                                                    session))

    def add_features(self, row: int, record: dict[str, Any], session: str) -> bool:
        """Store the FIM features of ``row`` (ignored if present); returns whether they were new."""
        cdf = record.get("fim_cdf")
        valid = bool(record.get("fim_valid")) and cdf is not None
        blob, dtype, shape = _blob(cdf) if cdf is not None else (None, None, None)
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO features (row, fim_valid, fim_reason, fim_cdf, fim_dtype, fim_shape, seconds, session, "
                "time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(row) DO NOTHING",
                (int(row), int(valid), None if valid else str(record.get("fim_reason") or "invalid FIM features"),
                 blob, dtype, shape, _finite_or_none(record.get("seconds")), session, time.time()))
            return cur.rowcount == 1

    def claim(self, row: int, function: str, session: str, attempt: int) -> None:
        """Mark ``row`` as being trained; refuses a row that already has a result or a claim."""
        with self.transaction() as db:
            done = db.execute("SELECT seq FROM results WHERE row = ?", (int(row),)).fetchone()
            if done is not None:
                raise RuntimeError(f"refusing to train {function!r} again: the journal already has its result")
            try:
                db.execute("INSERT INTO claims (row, function, session, attempt, time) VALUES (?, ?, ?, ?, ?)",
                           (int(row), function, session, int(attempt), time.time()))
            except sqlite3.IntegrityError:
                raise RuntimeError(f"refusing to train {function!r} twice: it is already claimed") from None
            db.execute("UPDATE sessions SET last_seen = ? WHERE id = ?", (time.time(), session))

    def record_failure(self, row: int, function: str, attempt: int, error: str, session: str) -> None:
        """Log a failed attempt (the claim stays while the run is retried)."""
        with self.transaction() as db:
            db.execute("INSERT INTO failures (row, function, attempt, error, session, time) VALUES (?, ?, ?, ?, ?, ?)",
                       (int(row), function, int(attempt), error, session, time.time()))
            db.execute("UPDATE claims SET attempt = ? WHERE row = ?", (int(attempt) + 1, int(row)))

    def add_result(self, row: int, record: dict[str, Any], *, attempts: int, session: str) -> int:
        """Store the final result of ``row`` and release its claim in one transaction; returns its ``seq``."""
        values = [_finite_or_none(record.get(m)) for m in _RESULT_METRICS]
        status = str(record.get("status", "ok"))
        with self.transaction() as db:
            seq = int(db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM results").fetchone()[0])
            try:
                db.execute(
                    "INSERT INTO results (seq, row, function, seed, train_accuracy, val_accuracy, test_accuracy, "
                    "train_loss, val_loss, test_loss, runtime, status, error, epochs, device, attempts, session, time) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, int(row), str(record["function"]), int(record["seed"]), *values,
                     _finite_or_none(record.get("runtime")), status, record.get("error"),
                     None if record.get("epochs") is None else int(record["epochs"]), record.get("device"),
                     int(attempts), session, time.time()))
            except sqlite3.IntegrityError as exc:
                raise RuntimeError(f"refusing to store a second result for {record['function']!r}: {exc}") from None
            db.execute("DELETE FROM claims WHERE row = ?", (int(row),))
            db.execute("UPDATE sessions SET last_seen = ? WHERE id = ?", (time.time(), session))
        return seq
