"""A journal's SQLite file handled safely: checked before anything is written to it, read without creating anything
next to it, created whole or not at all (used by :class:`~act_bench.engine.Journal`).

* :func:`check_journal` runs SQLite's ``quick_check`` and checks the schema version, the tables and their columns and
  that every config value is JSON, on a connection that cannot write.
* :func:`connect_readonly` reads a journal without writing to its folder: a journal without a write-ahead log
  (``-wal``) is read into memory (its folder may be read-only; no ``-shm``/``-wal`` is created), a journal with one is
  read in place with SQLite's ``mode=ro`` (its ``-shm`` index already exists: a driver is, or was, running on it), a
  log without its index or a rollback journal left by a crash is applied to private copies.
* :func:`check_wal` refuses a journal whose ``-wal`` was deleted or replaced while its ``-shm`` index says it holds
  committed transactions that are not in the journal file yet (opening it would silently drop finished results).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from act_bench.engine._store import SCHEMA, SCHEMA_VERSION, UPGRADES
from act_bench.errors import InvalidInputError, SchemaMismatchError

__all__ = ["check_journal", "check_wal", "config_values", "connect_readonly", "free_space", "sync_path"]

#: Layout of SQLite's WAL index (``-shm``, https://sqlite.org/walformat.html): two copies of a 48-byte header
#: (version, unused, change counter, initialised, checksum order, page size, last valid frame...), then the
#: checkpoint information whose first field is the number of frames already copied into the database file.
SHM_HEADER = struct.Struct("=IIIBBHI")
SHM_VERSION = 3007000
SHM_SALT = slice(32, 40)  # the WAL header's two salts as the index holds them
SHM_BACKFILL = 96
WAL_HEADER, WAL_FRAME_HEADER = 32, 24
WAL_SALT = slice(16, 24)
_ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+)")


def where(path: Path) -> str:
    return f"journal {str(path)!r}"


@functools.cache
def expected_columns() -> dict[str, tuple[str, ...]]:
    """``{table: columns}`` of the current schema (read from :data:`SCHEMA` itself)."""
    db = sqlite3.connect(":memory:")
    try:
        for stmt in SCHEMA:
            db.execute(stmt)
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                           "'sqlite_%'")]
        return {t: tuple(c for (c,) in db.execute("SELECT name FROM pragma_table_info(?)", (t,))) for t in tables}
    finally:
        db.close()


def added_by_upgrades(version: int) -> set[tuple[str, str]]:
    """``(table, column)`` that the upgrades from ``version`` on add (a journal of that version lacks them)."""
    return {m.groups() for v, stmts in UPGRADES.items() if v >= version for s in stmts if (m := _ADD_COLUMN.match(s))}


def config_values(rows: Iterable[tuple[str, Any]], path: Path) -> dict[str, Any]:
    """The config rows of a journal decoded; a value that is not JSON is an error naming its key."""
    out = {}
    for key, value in rows:
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError) as exc:
            reason = f"{exc.msg} at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise SchemaMismatchError(f"{where(path)}: the value of config key {key!r} is not JSON ({reason}); "
                                      f"every config value is JSON text written by act-bench: restore the journal "
                                      f"or start a new one") from None
    return out


def not_a_journal(path: Path, exc: sqlite3.DatabaseError) -> SchemaMismatchError:
    """The error for a file SQLite cannot read: corrupted, or not an SQLite database at all."""
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_CORRUPT":
        return SchemaMismatchError(f"{where(path)} is corrupted (SQLite says: {exc}); it was left untouched: restore "
                                   f"it from a copy or start a new journal")
    return SchemaMismatchError(f"{where(path)} is not an act-bench journal (SQLite says: {exc})")


def check_journal(db: sqlite3.Connection, path: Path) -> int:
    """Check a journal before anything is written to it; its schema version (:data:`SCHEMA_VERSION` or one that
    :data:`UPGRADES` upgrades).

    Raises :class:`~act_bench.errors.SchemaMismatchError` in one line for a file that is not an SQLite database, is
    corrupted (SQLite's ``quick_check``), is not an act-bench journal, has another schema version, lacks a table or a
    column, or holds a config value that is not JSON.
    """
    try:
        problems = [str(r[0]) for r in db.execute("PRAGMA quick_check(5)")]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise not_a_journal(path, exc) from None
    if problems != ["ok"]:
        raise SchemaMismatchError(f"{where(path)} is corrupted (SQLite's quick_check: {'; '.join(problems)[:300]}); "
                                  f"it was left untouched: restore it from a copy or start a new journal")
    if "schema_version" not in tables:
        raise SchemaMismatchError(f"{where(path)} is an SQLite file but not an act-bench journal (no "
                                  f"schema_version table)")
    rows = db.execute("SELECT version FROM schema_version").fetchall()
    if len(rows) != 1 or not isinstance(rows[0][0], int):
        raise SchemaMismatchError(f"{where(path)} has a malformed schema_version table")
    version = int(rows[0][0])
    if version != SCHEMA_VERSION and version not in UPGRADES:
        raise SchemaMismatchError(
            f"{where(path)} has journal schema version {version}; this act-bench reads version {SCHEMA_VERSION} (use "
            f"the act-bench that wrote it, or start a new journal)")
    absent = added_by_upgrades(version)
    for table, columns in expected_columns().items():
        if table not in tables:
            raise SchemaMismatchError(f"{where(path)} lacks the table {table!r} of journal schema version {version}")
        have = {c for (c,) in db.execute("SELECT name FROM pragma_table_info(?)", (table,))}
        missing = [c for c in columns if c not in have and (table, c) not in absent]
        if missing:
            raise SchemaMismatchError(f"{where(path)}: table {table!r} lacks the column(s) {', '.join(missing)} of "
                                      f"journal schema version {version}")
    config_values(db.execute("SELECT key, value FROM config"), path)
    return version


def check_wal(path: Path) -> None:
    """Refuse a journal whose write-ahead log is missing, shorter than its index says, or another log, while the
    index (``-shm``, left by a driver that was killed) records committed frames not yet copied into the journal file.

    Without this check SQLite would rebuild the index from what is left and the journal would silently lose those
    transactions (finished results that a resume would then train again). The journal checkpoints every commit
    (:meth:`Journal.transaction`), so this happens only when a checkpoint could not finish (a reader, a full disk). Nothing is read or written but the two
    side files' first bytes.
    """
    try:
        with open(f"{path}-shm", "rb") as f:
            shm = f.read(SHM_BACKFILL + 4)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InvalidInputError(f"cannot read {str(path)!r}-shm: {exc.strerror}") from None
    if len(shm) < SHM_BACKFILL + 4 or shm[:48] != shm[48:96]:
        return  # not initialised (or being written by a live driver): no committed frames are recorded there
    version, _, _, initialised, _, page, frames = SHM_HEADER.unpack_from(shm, 0)
    (backfilled,) = struct.unpack_from("=I", shm, SHM_BACKFILL)
    if version != SHM_VERSION or not initialised or frames <= backfilled:
        return
    page = 65536 if page == 1 else page
    try:
        with open(f"{path}-wal", "rb") as f:
            head, size = f.read(WAL_HEADER), os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        head, size = b"", 0
    except OSError as exc:
        raise InvalidInputError(f"cannot read {str(path)!r}-wal: {exc.strerror}") from None
    if not head:
        state = "missing (or empty)"
    elif head[WAL_SALT] != shm[SHM_SALT]:
        state = "another log than the one its index describes"
    elif size < WAL_HEADER + frames * (WAL_FRAME_HEADER + page):
        state = "shorter than its index says"
    else:
        return
    raise SchemaMismatchError(
        f"{where(path)}: its write-ahead log {path.name}-wal is {state}, but its index {path.name}-shm records "
        f"{frames - backfilled} committed page write(s) that are not in the journal file yet (the transactions "
        f"written last: results, claims, sessions); opening it would silently lose them. Restore {path.name}-wal, "
        f"or delete {path.name}-shm to accept the loss")


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that reads ``path`` and can neither write it nor create anything next to it.

    Raises :class:`~act_bench.errors.SchemaMismatchError` for a file that is not an SQLite database.
    """
    wal, shm, hot = (Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal"))
    if wal.exists() and shm.exists():
        return _connect_in_place(path)  # a driver is or was connected: its index is there to read the log with
    try:
        if wal.exists() or hot.exists():  # a log without its index, or a rollback journal left by a crash: read
            return _in_memory(_with_log_applied(path, wal if wal.exists() else hot))  # from private copies
        for _ in range(3):
            before = _identity(path)
            data = path.read_bytes()
            if not wal.exists() and _identity(path) == before:  # no driver checkpointed into the file meanwhile
                return _in_memory(data)
    except sqlite3.DatabaseError as exc:
        raise not_a_journal(path, exc) from None
    return _connect_in_place(path)  # a driver is running on it now: read alongside it


def sync_path(path: Path) -> None:
    """``fsync`` a file or a folder (so a created file and its name survive a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def free_space(folder: Path) -> str:
    try:
        st = os.statvfs(folder)
    except OSError:
        return "free space unknown"
    return f"{st.f_bavail * st.f_frsize // 1024} KiB free there"


def _identity(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def _connect_in_place(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=30.0)
    except sqlite3.Error as exc:
        raise InvalidInputError(f"cannot open {where(path)}: {exc}") from None


def _in_memory(data: bytes) -> sqlite3.Connection:
    image = bytearray(data)
    if image[18:20] == b"\x02\x02":  # a WAL-mode file: read as a rollback-mode one (memory has no log)
        image[18:20] = b"\x01\x01"
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        if image:  # an empty file is an empty database (SQLite cannot deserialize zero bytes)
            db.deserialize(bytes(image))
        db.execute("PRAGMA query_only = ON")
    except sqlite3.Error:
        db.close()
        raise
    return db


def _with_log_applied(path: Path, log: Path) -> bytes:
    """The content of ``path`` with its ``log`` (``-wal`` or ``-journal``) applied, on copies of both."""
    with tempfile.TemporaryDirectory(prefix="act-bench-journal-") as tmp:
        copy = Path(tmp) / "journal.sqlite"
        shutil.copyfile(path, copy)
        shutil.copyfile(log, f"{copy}{log.name.removeprefix(path.name)}")
        db = sqlite3.connect(str(copy), isolation_level=None)
        try:
            return db.serialize()
        finally:
            db.close()
