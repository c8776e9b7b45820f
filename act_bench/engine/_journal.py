"""The job engine's journal: one SQLite file holding everything a build or a live search knows, so a killed driver
resumes where it stopped (layout: :mod:`act_bench.engine._store`).

Writes happen in short ``BEGIN IMMEDIATE`` transactions in WAL mode with ``synchronous=FULL``, each checkpointed into
the journal file; SQL is always parameterised. A journal is checked before anything is written to it, created whole
or not at all, and read without creating files next to it (:mod:`act_bench.engine._sqlfile`). Arrays are stored as
little-endian float32 bytes with explicit dtype and shape columns (no pickle). Only one driver may hold a journal at
a time (an advisory ``flock`` on ``<journal>.lock``, see :class:`~act_bench.engine.JournalLock`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from act_bench.engine._lock import JournalLock
from act_bench.engine._sqlfile import (
    check_journal,
    check_wal,
    config_values,
    connect_readonly,
    free_space,
    sync_path,
)
from act_bench.engine._store import (
    RESULT_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    UPGRADES,
    Claim,
    Job,
    JournalRun,
    array,
    as_float,
    connect,
    dumps,
    insert_candidates,
    insert_features,
    insert_result,
    job_of,
    remove_sqlite,
)
from act_bench.errors import InvalidInputError, SchemaMismatchError
from act_bench.tables import CURVE_COLUMNS, METRICS, RunRecord

__all__ = ["Journal"]

class Journal:
    """A job-engine journal (SQLite). Use :meth:`create` for a new file and :meth:`open` for an existing one.

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "search.sqlite")
    >>> j = Journal.create(path, config={"kind": "search"}, functions=["relu(x)", "tanh(x)"],
    ...                    equivalents=[["relu(x)"], ["tanh(x)"]], outputs=np.zeros((2, 3), np.float32),
    ...                    feature_rank=[1, 0])
    >>> j.config()["kind"], j.counts()["unique"]
    ('search', 2)
    >>> j.close()
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._columns = RESULT_COLUMNS  # a read-only open of an older schema reads fewer
        self.lock = JournalLock(self.lock_path)

    # -- opening ------------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False) -> Journal:
        """Open an existing journal, checking that it is an intact act-bench journal of :data:`SCHEMA_VERSION`.

        The check (:func:`~act_bench.engine._sqlfile.check_journal`: SQLite's ``quick_check``, version, tables,
        columns, config values) and the check of its write-ahead log run on a connection that cannot write, so a
        corrupted journal or one of another version is refused with its bytes untouched. A read-only open reads
        without creating ``-shm``/``-wal`` files (in a read-only folder too).
        """
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"journal {str(path)!r} does not exist")
        check_wal(path)
        db = connect_readonly(path)
        try:
            version = check_journal(db, path)
        except BaseException:
            db.close()
            raise
        if not readonly:
            db.close()
            db = cls._connect_writable(path, version)
            version = SCHEMA_VERSION
        journal = cls(path, db)
        journal._columns = RESULT_COLUMNS if version == SCHEMA_VERSION else RESULT_COLUMNS[:-1]
        return journal

    @staticmethod
    def _connect_writable(path: Path, version: int) -> sqlite3.Connection:
        """The driver's connection to a checked journal: upgraded to :data:`SCHEMA_VERSION`, in WAL mode."""
        db = connect(path)
        try:
            if version in UPGRADES:
                db.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in UPGRADES[version]:
                        db.execute(stmt)
                    db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("SELECT COUNT(*) FROM schema_version").fetchone()  # the log's index can be made (disk space)
        except sqlite3.Error as exc:
            db.close()
            raise InvalidInputError(f"cannot open journal {str(path)!r} for writing: {exc} ({free_space(path.parent)}"
                                    f"; the journal is unchanged)") from None
        except BaseException:
            db.close()
            raise
        return db

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, config: dict[str, Any], functions: Sequence[str],
               equivalents: Sequence[Sequence[str]], outputs: np.ndarray, feature_rank: Sequence[int],
               fill: Any = None) -> Journal:
        """Create a new journal atomically (written to a temporary file in the same folder, then linked in place).

        ``fill(connection)``, if given, writes more rows inside the creating transaction (used to convert an old
        journal in one step).

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
        remove_sqlite(tmp)
        try:
            # the whole journal is written to the temporary file in rollback mode (no log that a full disk could
            # keep from being copied in at close), synced, read back and checked, and only then linked in place
            db = sqlite3.connect(str(tmp), isolation_level=None, timeout=30.0)
            try:
                db.execute("PRAGMA synchronous=FULL")
                db.execute("BEGIN IMMEDIATE")
                for stmt in SCHEMA:
                    db.execute(stmt)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                db.executemany("INSERT INTO config (key, value) VALUES (?, ?)",
                               [(k, json.dumps(v, sort_keys=True)) for k, v in config.items()])
                insert_candidates(db, 0, functions, equivalents, outputs, feature_rank)
                if fill is not None:
                    fill(db)
                db.execute("COMMIT")
            finally:
                db.close()
            sync_path(tmp)
            check = connect_readonly(tmp)
            try:
                check_journal(check, tmp)
            finally:
                check.close()
            try:
                os.link(tmp, path)  # fails if another process created the journal meanwhile
            except FileExistsError:
                raise InvalidInputError(f"journal {str(path)!r} already exists") from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                os.replace(tmp, path)  # file systems without hard links
        except (sqlite3.Error, SchemaMismatchError) as exc:
            raise InvalidInputError(f"cannot create journal {str(path)!r}: {exc} ({free_space(folder)}); nothing "
                                    f"was written") from None
        except OSError as exc:
            raise InvalidInputError(f"cannot create journal {str(path)!r}: {exc.strerror or exc} "
                                    f"({free_space(folder)}); nothing was written") from None
        finally:
            remove_sqlite(tmp)
        sync_path(folder)
        return cls.open(path)

    # -- locking ------------------------------------------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def acquire(self) -> None:
        """Take the driver lock (non-blocking); raises :class:`~act_bench.errors.JournalBusyError` naming the
        driver that holds it."""
        self.lock.acquire()

    def driver_alive(self) -> bool:
        """Whether some driver currently holds the lock (for status reports)."""
        return self.lock.held_by_anyone()

    def close(self) -> None:
        """Close the connection and release the driver lock."""
        self._db.close()
        self.lock.release()

    def __enter__(self) -> Journal:  # noqa: PYI034 - no subclasses
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error), then a checkpoint.

        The checkpoint copies the committed transaction from the write-ahead log into the journal file (passive: it
        never waits for a reader), so that finished results do not live only in the ``-wal`` file, which a user or a
        cleaner may delete after a crash (about 20 ms a commit on a local disk; see docs/builders.md).
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:  # SQLite may have rolled back itself (a full disk)
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        # committed already: a checkpoint that cannot finish (a full disk) leaves the transaction in the log, where
        # SQLite reads it and check_wal guards it; the next commit tries again
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -- configuration and candidates ---------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return config_values(self._db.execute("SELECT key, value FROM config"), self.path)

    def set_config(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                       "excluded.value", (key, json.dumps(value, sort_keys=True)))

    def candidates(self) -> tuple[list[str], list[list[str]], np.ndarray, np.ndarray]:
        """``(functions, equivalents, outputs (n, k) float32, feature_rank (n,))`` in row order."""
        names, eqs, outs, ranks = [], [], [], []
        for expect, (row, f, eq, data, dtype, shape, rank) in enumerate(self._db.execute(
                "SELECT row, function, equivalents, outputs, outputs_dtype, outputs_shape, feature_rank "
                "FROM candidates ORDER BY row")):
            if row != expect:
                raise SchemaMismatchError(f"journal {str(self.path)!r}: candidate rows are not 0..n-1")
            names.append(f)
            eqs.append(list(json.loads(eq)))
            outs.append(array(data, dtype, shape, f"journal {self.path} candidate {f}"))
            ranks.append(int(rank))
        outputs = np.stack(outs) if outs else np.zeros((0, 0), np.float32)
        return names, eqs, outputs, np.asarray(ranks, dtype=np.int64)

    def rows(self) -> dict[str, int]:
        """``{function: row}`` of every candidate."""
        return {f: int(r) for r, f in self._db.execute("SELECT row, function FROM candidates")}

    def add_candidates(self, functions: Sequence[str], equivalents: Sequence[Sequence[str]],
                       outputs: np.ndarray) -> int:
        """Append the functions that are not candidates yet (a build whose plan grew); returns how many."""
        known = self.rows()
        new = [i for i, f in enumerate(functions) if f not in known]
        if new:
            with self.transaction() as db:
                start = int(db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0])
                insert_candidates(db, start, [functions[i] for i in new], [equivalents[i] for i in new],
                                   np.asarray(outputs, dtype=np.float32)[new], range(start, start + len(new)))
        return len(new)

    def n_candidates(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0])

    # -- features -----------------------------------------------------------------------------------------------

    def features(self) -> dict[int, dict[str, Any]]:
        """``{row: {"fim_valid", "fim_reason", "fim_cdf" (float32 array or None), "seconds", "time"}}``."""
        out = {}
        for row, valid, reason, data, dtype, shape, seconds, when in self._db.execute(
                "SELECT row, fim_valid, fim_reason, fim_cdf, fim_dtype, fim_shape, seconds, time FROM features"):
            out[int(row)] = {"fim_valid": bool(valid), "fim_reason": reason,
                             "fim_cdf": array(data, dtype, shape, f"journal {self.path} features of row {row}"),
                             "seconds": as_float(seconds), "time": float(when)}
        return out

    def featured_rows(self) -> set[int]:
        return {int(r[0]) for r in self._db.execute("SELECT row FROM features")}

    def n_features(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM features").fetchone()[0])

    def add_features(self, row: int, record: dict[str, Any], session: str, *, when: float | None = None) -> bool:
        """Store the FIM features of ``row`` (ignored if present) and release its claim; whether they were new."""
        with self.transaction() as db:
            new = insert_features(db, row, record, session, time.time() if when is None else when)
            db.execute("DELETE FROM claims WHERE kind = 'fim' AND row = ?", (int(row),))
        return new

    # -- results ------------------------------------------------------------------------------------------------

    def results(self, since: int = 0) -> list[JournalRun]:
        """Final run records in the order they finished (those with ``seq > since``)."""
        out = []
        for r in self._db.execute(f"SELECT {', '.join(self._columns)} FROM results WHERE seq > ? ORDER BY seq",
                                  (int(since),)):
            v = dict(zip(self._columns, r))
            curves = json.loads(v["curves"]) if v["curves"] else {}
            record = RunRecord(v["function"], int(v["seed"]), *(as_float(v[m]) for m in METRICS),
                               as_float(v["runtime"]), v["status"], v["error"],
                               0 if v["epochs"] is None else int(v["epochs"]), v["device"],
                               json.loads(v["extra"]) if v["extra"] else {},
                               *([float(x) for x in curves.get(c, [])] for c in CURVE_COLUMNS),
                               bool(v.get("eval_loss_nonfinite") or 0))
            out.append(JournalRun(int(v["seq"]), int(v["row"]), record, int(v["attempts"]), v["session"],
                                  float(v["time"])))
        return out

    def n_results(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def add_result(self, row: int, record: RunRecord, *, attempts: int, session: str,
                   when: float | None = None) -> int:
        """Store the final record of run (row, seed) and release its claim in one transaction; returns its ``seq``.

        A second record for the same run is refused (:class:`RuntimeError`): a run is journaled exactly once.
        """
        with self.transaction() as db:
            seq = insert_result(db, row, record, attempts, session, time.time() if when is None else when)
            db.execute("DELETE FROM claims WHERE kind = 'run' AND row = ? AND seed = ?", (int(row), int(record.seed)))
            db.execute("UPDATE sessions SET last_seen = ? WHERE id = ?", (time.time(), session))
        return seq

    def done_runs(self) -> set[tuple[int, int]]:
        """``(row, seed)`` of every run with a final record."""
        return {(int(r), int(s)) for r, s in self._db.execute("SELECT row, seed FROM results")}

    # -- claims, heartbeats and failures ------------------------------------------------------------------------

    def claim(self, job: Job, session: str, attempt: int) -> None:
        """Mark ``job`` as in flight; refuses a job that already has its result or a claim."""
        now = time.time()
        with self.transaction() as db:
            if job.seed is None:
                done = db.execute("SELECT 1 FROM features WHERE row = ?", (job.row,)).fetchone()
            else:
                done = db.execute("SELECT 1 FROM results WHERE row = ? AND seed = ?", (job.row, job.seed)).fetchone()
            if done is not None:
                raise RuntimeError(f"refusing to run job {job.key} ({job.function!r}) again: the journal has its "
                                   f"result")
            try:
                db.execute("INSERT INTO claims (job, kind, row, seed, function, session, attempt, time, heartbeat) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (job.key, job.kind.value, job.row, job.seed, job.function, session, int(attempt), now, now))
            except sqlite3.IntegrityError:
                raise RuntimeError(f"refusing to run job {job.key} ({job.function!r}) twice: it is already "
                                   f"claimed") from None
            db.execute("UPDATE sessions SET last_seen = ? WHERE id = ?", (now, session))

    def heartbeat(self, beats: dict[str, tuple[str, float]], session: str) -> None:
        """Record the last heartbeat (and worker) of claimed jobs: ``{job key: (worker, time)}``."""
        with self.transaction() as db:
            db.executemany("UPDATE claims SET worker = ?, heartbeat = MAX(heartbeat, ?) WHERE job = ?",
                           [(w, t, k) for k, (w, t) in beats.items()])
            db.execute("UPDATE sessions SET last_seen = ? WHERE id = ?", (time.time(), session))

    def claims(self) -> list[Claim]:
        """The jobs in flight, oldest claim first."""
        return [Claim(job_of(k, r, f, s), sess, int(a), w, float(t), float(h)) for k, r, f, s, sess, a, w, t, h in
                self._db.execute("SELECT kind, row, function, seed, session, attempt, worker, time, heartbeat "
                                 "FROM claims ORDER BY time, job")]

    def record_failure(self, job: Job, attempt: int, error: str, session: str) -> None:
        """Log a failed attempt of ``job`` with its error (the claim stays while the job is retried)."""
        with self.transaction() as db:
            db.execute("INSERT INTO failures (job, kind, row, seed, function, attempt, error, session, time) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (job.key, job.kind.value, job.row, job.seed,
                                                              job.function, int(attempt), error, session, time.time()))
            db.execute("UPDATE claims SET attempt = ? WHERE job = ?", (int(attempt) + 1, job.key))

    def release(self, job: Job) -> None:
        """Drop the claim of ``job`` (its driver stopped before the job finished)."""
        with self.transaction() as db:
            db.execute("DELETE FROM claims WHERE job = ?", (job.key,))

    def failures(self) -> list[dict[str, Any]]:
        """Every failed attempt, in order: ``job``, ``kind``, ``row``, ``seed``, ``function``, ``attempt``,
        ``error``, ``session``, ``time``."""
        cols = ("job", "kind", "row", "seed", "function", "attempt", "error", "session", "time")
        return [dict(zip(cols, r)) for r in self._db.execute(f"SELECT {', '.join(cols)} FROM failures ORDER BY id")]

    def attempts(self, job: Job) -> int:
        """Failed attempts recorded for ``job``."""
        return int(self._db.execute("SELECT COUNT(*) FROM failures WHERE job = ?", (job.key,)).fetchone()[0])

    # -- sessions and events ------------------------------------------------------------------------------------

    def sessions(self) -> list[dict[str, Any]]:
        cols = ("id", "started", "last_seen", "ended", "host", "pid", "executor", "workers", "budget", "hardware",
                "code_digest")
        return [dict(zip(cols, r)) for r in self._db.execute(
            f"SELECT {', '.join(cols)} FROM sessions ORDER BY started, rowid")]

    def start_session(self, session: str, *, executor: str, workers: int, budget: int | None = None,
                      hardware: str | None = None, code_digest: str | None = None) -> list[Job]:
        """Record a new session and release every claim (they belong to dead sessions: the lock is ours).

        Returns the released jobs, oldest claim first, so the driver can run them again.
        """
        now = time.time()
        with self.transaction() as db:
            released = [job_of(k, r, f, s) for k, r, f, s in
                        db.execute("SELECT kind, row, function, seed FROM claims ORDER BY time, job")]
            db.execute("DELETE FROM claims")
            db.execute("INSERT INTO sessions (id, started, last_seen, host, pid, executor, workers, budget, hardware, "
                       "code_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (session, now, now, os.uname().nodename, os.getpid(), executor, workers, budget, hardware,
                        code_digest))
        return released

    def end_session(self, session: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE sessions SET ended = ?, last_seen = ? WHERE id = ?", (time.time(), time.time(),
                                                                                    session))

    def add_event(self, kind: str, value: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO events (type, time, value) VALUES (?, ?, ?)", (kind, time.time(), dumps(value)))

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [{"time": float(t), **json.loads(v)} for t, v in
                self._db.execute("SELECT time, value FROM events WHERE type = ? ORDER BY id", (kind,))]

    def counts(self) -> dict[str, int]:
        """Row counts: ``unique`` (rows), ``spellings``, ``with_features``, ``valid_features``, ``evaluated``,
        ``running`` (claimed runs; FIM jobs not counted), ``failed``, ``diverged``, ``failed_attempts``."""
        q = self._db.execute
        spellings = sum(len(json.loads(e)) for (e,) in q("SELECT equivalents FROM candidates"))
        return {
            "unique": self.n_candidates(),
            "spellings": spellings,
            "with_features": self.n_features(),
            "valid_features": int(q("SELECT COUNT(*) FROM features WHERE fim_valid = 1").fetchone()[0]),
            "evaluated": self.n_results(),
            "running": int(q("SELECT COUNT(*) FROM claims WHERE kind = 'run'").fetchone()[0]),
            "failed": int(q("SELECT COUNT(*) FROM results WHERE status = 'failed'").fetchone()[0]),
            "diverged": int(q("SELECT COUNT(*) FROM results WHERE status = 'diverged'").fetchone()[0]),
            "failed_attempts": int(q("SELECT COUNT(*) FROM failures").fetchone()[0]),
        }
