"""Journals survive a full disk and are never written before they are validated (issue 24, item 4).

Real SQLite files and real processes: a journal created on a nearly full file system (a small tmpfs when the tests
run as root, else a file-size limit on the creating process) is whole or absent and never blocks the rerun; a
corrupted journal is refused with one line and its bytes and mtime unchanged; read-only commands create no ``-shm`` /
``-wal`` files and read a journal in a read-only folder; a ``-wal`` deleted after a crash loses nothing that was
checkpointed and is refused (not silently dropped) when it held committed transactions; a config value that is not
JSON is one line naming its key.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from act_bench.engine import Journal
from act_bench.errors import SchemaMismatchError
from act_bench.space import evaluate_many
from act_bench.tables import RunRecord

FUNCS = ["relu(x)", "tanh(x)", "elu(x)", "swish(x)", "sigmoid(x)", "softsign(x)"]
SIDE_FILES = ("-wal", "-shm", "-journal")

#: A child process that owns a journal: creates it with results, optionally pins the log with a reader (a
#: ``--snapshot`` running alongside), commits more results and is SIGKILLed (a driver killed by the OOM killer).
DRIVER = """
import os, signal, sqlite3, sys
from act_bench.engine import Job, JobKind, Journal
from act_bench.space import evaluate_many
from act_bench.tables import RunRecord
path, before, pinned, F = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
j = Journal.create(path, config={"kind": "search", "searcher": "random", "seed": 0}, functions=F,
                   equivalents=[[f] for f in F], outputs=evaluate_many(F), feature_rank=list(range(len(F))))
j.acquire()
j.start_session("s1", executor="local", workers=1)
def result(i):
    j.claim(Job(JobKind.RUN, i, F[i], 0), "s1", 0)
    j.add_result(i, RunRecord(F[i], 0, 0.9, 0.5 + i / 100, 0.4, 0.1, 0.2, 0.3, 1.0), attempts=1, session="s1")
for i in range(before):
    result(i)
reader = sqlite3.connect(path, isolation_level=None)
reader.execute("BEGIN")
reader.execute("SELECT COUNT(*) FROM results").fetchone()  # a read snapshot: checkpoints cannot pass it
for i in range(before, before + pinned):
    result(i)
print(j.n_results(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], check=False, capture_output=True, text=True,
                          timeout=300)


def _driver(path: Path, before: int, pinned: int) -> subprocess.CompletedProcess:
    return _python(DRIVER, str(path), str(before), str(pinned), *FUNCS)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "act_bench.cli._main", *args], check=False, capture_output=True,
                          text=True, timeout=300)


def _lines(err: str) -> list[str]:
    """stderr without runpy's warning about ``python -m act_bench.cli._main``."""
    return [line for line in err.strip().splitlines() if not line.startswith("<frozen runpy>")]


def _one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    lines = _lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _record(i: int) -> RunRecord:
    return RunRecord(FUNCS[i], 0, 0.9, 0.5 + i / 100, 0.4, 0.1, 0.2, 0.3, 1.0)


def _journal(path: Path, results: int = 3) -> Path:
    """A closed journal with ``results`` results (in the journal file itself: no side file left)."""
    j = Journal.create(path, config={"kind": "search", "searcher": "random", "seed": 0}, functions=FUNCS,
                       equivalents=[[f] for f in FUNCS], outputs=evaluate_many(FUNCS),
                       feature_rank=list(range(len(FUNCS))))
    j.start_session("s0", executor="local", workers=1)
    for i in range(results):
        j.add_result(i, _record(i), attempts=1, session="s0")
    j.close()
    assert _side_files(path) == []
    return path


def _side_files(path: Path) -> list[str]:
    return [s for s in SIDE_FILES if Path(f"{path}{s}").exists()]


def _state(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def _page_of(path: Path, table: str) -> int:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    finally:
        db.close()
    return (root - 1) * size


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], check=False, capture_output=True).returncode == 0


@contextlib.contextmanager
def _small_file_system(folder: Path, kib: int) -> Iterator[bool]:
    """``folder`` as a tmpfs of ``kib`` KiB (True) where the tests may mount one (root), else left as it is (False:
    the caller limits the size of the files its child process writes instead)."""
    folder.mkdir()
    mounted = os.geteuid() == 0 and _mount("-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder))
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only for everyone, root included (a read-only bind mount), or by its mode where the tests
    cannot mount (then they do not run as root, and the mode binds them)."""
    if os.geteuid() == 0 and _mount("--bind", str(folder), str(folder)):
        try:
            assert _mount("-o", "remount,bind,ro", str(folder), str(folder))
            yield
        finally:
            subprocess.run(["umount", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


# -- creation on a nearly full disk ------------------------------------------------------------------------------

#: Creates a journal in a folder left with less and less free space (tmpfs: a filler file takes the rest; else a
#: file-size limit), then frees the space and reruns the creation: one JSON line per step.
FILL = """
import json, os, resource, signal, sys
from pathlib import Path
from act_bench.engine import Journal
from act_bench.errors import InvalidInputError
from act_bench.space import evaluate_many
folder, mounted, F = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:]
def create(path):
    j = Journal.create(path, config={"kind": "search", "note": "x" * 20000}, functions=F,
                       equivalents=[[f] for f in F], outputs=evaluate_many(F), feature_rank=list(range(len(F))))
    n = j.n_candidates()
    j.close()
    return n
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
for budget in range(8, 160, 8):
    path = folder / "j.sqlite"
    if mounted:
        st = os.statvfs(folder)
        with open(folder / "filler", "wb") as f:
            f.write(bytes(max(st.f_bavail * st.f_frsize - budget * 1024, 0)))
    else:
        resource.setrlimit(resource.RLIMIT_FSIZE, (budget * 1024, resource.RLIM_INFINITY))
    try:
        step = {"budget": budget, "created": create(path)}
    except InvalidInputError as exc:
        step = {"budget": budget, "error": str(exc)}
    step["files"] = sorted(os.listdir(folder))
    if mounted:
        os.unlink(folder / "filler")
    else:
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    if path.exists():  # what was linked must open, whole, once the disk has room again
        j = Journal.open(path)
        step["reopened"] = j.n_candidates()
        j.close()
    else:  # and a rerun must not be blocked
        step["rerun"] = create(path)
    for name in os.listdir(folder):
        os.unlink(folder / name)
    print(json.dumps(step), flush=True)
"""


def test_a_journal_created_on_a_nearly_full_disk_is_whole_or_absent_and_never_blocks_the_rerun(tmp_path):
    with _small_file_system(tmp_path / "small", 512) as mounted:
        proc = _python(FILL, str(tmp_path / "small"), "1" if mounted else "0", *FUNCS)
        assert proc.returncode == 0, proc.stderr
    steps = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(steps) == 19
    failed = [s for s in steps if "error" in s]
    created = [s for s in steps if "created" in s]
    assert failed and created, steps  # the budgets cross the size of a journal: both outcomes are exercised
    filler = ["filler"] if mounted else []
    for s in failed:
        if "cannot create journal" in s["error"]:  # no journal, no temporary file left; the rerun creates it
            assert "nothing was written" in s["error"] and s["files"] == filler and s["rerun"] == len(FUNCS), s
        else:  # created whole, then no room for its log's index: the journal stays as created and opens later
            assert "for writing" in s["error"] and "the journal is unchanged" in s["error"], s
            assert "j.sqlite" in s["files"] and s["reopened"] == len(FUNCS), s
            assert set(s["files"]) <= {"filler", "j.sqlite", "j.sqlite-wal", "j.sqlite-shm"}, s
    for s in created:
        assert s["created"] == s["reopened"] == len(FUNCS), s
        assert [f for f in s["files"] if f != "filler"] == ["j.sqlite"], s


# -- validation before any write ---------------------------------------------------------------------------------

def _garble(offset: int):
    def damage(path: Path) -> None:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(b"\xff" * 64)
    return damage


@pytest.mark.parametrize("where", ["results", "candidates", "config", "truncated"])
def test_a_corrupted_journal_is_refused_in_one_line_with_its_bytes_and_mtime_unchanged(tmp_path, where):
    path = _journal(tmp_path / "j.sqlite")
    if where == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        _garble(_page_of(path, where))(path)
    before = _state(path)
    # a driver (which would switch the journal to WAL and write its session) and a read-only command
    opened = _python("import sys\nfrom act_bench.engine import Journal\nJournal.open(sys.argv[1]).close()", str(path))
    assert opened.returncode == 1 and "SchemaMismatchError" in opened.stderr and "is corrupted" in opened.stderr
    status = _cli("search", "status", "--journal", str(path))
    _one_line_error(status, f"journal {str(path)!r} is corrupted")
    assert _state(path) == before and _side_files(path) == []


# -- read-only commands ------------------------------------------------------------------------------------------

def test_read_only_commands_create_no_side_files_and_read_a_read_only_folder(tmp_path):
    folder = tmp_path / "journals"
    folder.mkdir()
    path = _journal(folder / "j.sqlite", results=3)
    before = _state(path)
    status = _cli("search", "status", "--journal", str(path), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["evaluated"] == 3
    exported = _cli("search", "export", "--journal", str(path), "--out", str(tmp_path / "table"), "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["functions"] == 3
    assert _state(path) == before and sorted(p.name for p in folder.iterdir()) == ["j.sqlite"]
    with _read_only(folder):
        status = _cli("search", "status", "--journal", str(path), "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["evaluated"] == 3
    assert _state(path) == before and sorted(p.name for p in folder.iterdir()) == ["j.sqlite"]


def test_a_journal_left_by_a_killed_driver_is_read_in_a_read_only_folder_without_new_files(tmp_path):
    folder = tmp_path / "journals"
    folder.mkdir()
    path = folder / "j.sqlite"
    driver = _driver(path, 2, 1)  # the last result is in the log only (a reader pinned it)
    assert driver.returncode == -9 and driver.stdout.split() == ["3"], driver.stderr
    left = sorted(p.name for p in folder.iterdir())
    assert {"j.sqlite", "j.sqlite-wal", "j.sqlite-shm"} <= set(left)
    with _read_only(folder):
        status = _cli("search", "status", "--journal", str(path), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["evaluated"] == 3
    assert sorted(p.name for p in folder.iterdir()) == left


# -- a deleted write-ahead log -----------------------------------------------------------------------------------

def test_results_of_a_killed_driver_survive_a_deleted_wal(tmp_path):
    path = tmp_path / "j.sqlite"
    driver = _driver(path, 3, 0)  # every commit checkpointed into the journal file
    assert driver.returncode == -9 and driver.stdout.split() == ["3"], driver.stderr
    Path(f"{path}-wal").unlink()
    status = _cli("search", "status", "--journal", str(path), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["evaluated"] == 3


def test_a_deleted_wal_holding_committed_results_is_refused_not_silently_dropped(tmp_path):
    path = tmp_path / "j.sqlite"
    driver = _driver(path, 1, 2)  # two results only in the log: a reader kept them from the file
    assert driver.returncode == -9 and driver.stdout.split() == ["3"], driver.stderr
    wal = Path(f"{path}-wal")
    saved = wal.read_bytes()
    wal.unlink()
    before = _state(path)
    status = _cli("search", "status", "--journal", str(path))
    _one_line_error(status, "j.sqlite-wal is missing", "committed page write(s)", "Restore j.sqlite-wal")
    opened = _python("import sys\nfrom act_bench.engine import Journal\nJournal.open(sys.argv[1]).close()", str(path))
    assert opened.returncode == 1 and "j.sqlite-wal is missing" in opened.stderr
    wal.write_bytes(b"")  # an empty log in its place is no better
    _one_line_error(_cli("search", "status", "--journal", str(path)), "j.sqlite-wal is missing")
    assert _state(path) == before
    wal.write_bytes(saved)  # restored: every result is there
    status = _cli("search", "status", "--journal", str(path), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["evaluated"] == 3


# -- config values -----------------------------------------------------------------------------------------------

def test_a_config_value_that_is_not_json_is_one_line_naming_its_key(tmp_path):
    path = _journal(tmp_path / "j.sqlite", results=1)
    db = sqlite3.connect(path)
    db.execute("UPDATE config SET value = 'not json{' WHERE key = 'seed'")
    db.commit()
    db.close()
    before = _state(path)
    with pytest.raises(SchemaMismatchError, match="the value of config key 'seed' is not JSON"):
        Journal.open(path)
    with pytest.raises(SchemaMismatchError, match="config key 'seed'"):
        Journal.open(path, readonly=True)
    _one_line_error(_cli("search", "status", "--journal", str(path)), "config key 'seed' is not JSON")
    assert _state(path) == before and _side_files(path) == []
