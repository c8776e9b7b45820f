"""Adversarial cases of issue 24, run as real subprocesses against the act-bench code of a checkout.

Usage::

    python benchmarks/adversarial.py [--checkout DIR] [--classes stops,symlinks,...] [--jobs N] [--json OUT]

Every case runs ``env PYTHONPATH=DIR python -m act_bench.cli._main ...`` (or a small ``python -c`` script for the
searcher API) in a fresh temporary folder with its own ``ACT_BENCH_CACHE`` and ``HOME``, in a session of its own
(``start_new_session=True``) and under a hard timeout. ``DIR`` is the current tree by default; for the starting
commit make a reference checkout with ``mkdir -p /tmp/ref-788dfc0 && git archive 788dfc0 | tar -x -C
/tmp/ref-788dfc0``. Before anything runs, the harness checks that ``import act_bench`` resolves inside ``DIR``.

Checks (a case *fails* when any of them fails):

traceback
    ``Traceback (most recent call last)`` on the stderr of any process of the case.
writes outside
    The case's sentinel tree (user files, symlink targets it plants, journals a read-only command or a refused
    journal must leave alone) is snapshotted before and after, without following symlinks: every path's type, size,
    modification time (ns), bytes (SHA-256) and link target. Any difference, a new file included (e.g. a ``-wal`` or
    ``-shm`` beside a journal), is a write outside the case's outputs.
data lost
    A case-specific check that what existed is still there: a user's file in ``--out`` or a foreign cache folder,
    the journal's results after a stop (a run in flight stored as a final ``failed`` loses its work: the resume calls
    the table complete without it), the cached entries after a ``cache clear`` that was not confirmed.
orphans
    Any process of the case's session (read from ``/proc``, zombies excluded) alive 10 s after the case's main
    process ended or was killed. Leftovers are SIGKILLed afterwards so that cases do not disturb each other.
hangs
    The hard timeout was hit (for the network cases: no exit within ``$ACT_BENCH_NET_DEADLINE`` + a start-up margin).
wrong outcome
    The case's expected behaviour class did not hold, e.g. a bad input must end with exit 2 and one line on stderr
    (``<frozen runpy>`` warnings of ``python -m`` are not counted); a symlinked card figure must not be copied with
    its target's content; an unwritable cache must not turn a finished command into exit 2; a corrupt but finite
    cached map must be recomputed; ``tell()`` must refuse a bool, an infinity or a string and keep the suggestion
    pending.

Options that did not exist at the starting commit (e.g. ``cache clear --yes``): the harness reads the checkout's
parser and drops such an option from the command line, recording it in the case's ``notes``; the case then fails there
only if the behaviour class is wrong (e.g. the foreign folder's files were deleted).

Output: a markdown table (class x cases and the count of cases failing each check) on stdout; ``--json OUT`` writes
the per-case details (commands, exit codes, stderr tails, every check).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))   # the harness's helpers, shared with tests
from _procs import live_session_members, n_threads, pool_workers
from _servers import Server

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
TRACEBACK = "Traceback (most recent call last)"
ORPHAN_BOUND_S = 10.0
NET_DEADLINE_S = 3
NET_MARGIN_S = 60.0        # start-up of the CLI (imports) on a busy machine, on top of the deadline
HARD_TIMEOUT_S = 900.0
CLASSES = ("stops", "symlinks", "cache", "journals", "replay", "network", "inputs")


# --------------------------------------------------------------------------------------------------------------------
# processes


@dataclasses.dataclass
class Run:
    """One process of a case: its command, exit code, stderr and what the orphan and hang checks saw."""

    argv: list[str]
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    hung: bool = False
    orphans: list[str] = dataclasses.field(default_factory=list)

    def lines(self) -> list[str]:
        """stderr lines without ``python -m``'s runpy warning and blank lines."""
        return [ln for ln in self.stderr.strip().splitlines() if ln.strip() and not ln.startswith("<frozen runpy>")]

    def one_line(self) -> bool:
        return len(self.lines()) == 1

    def summary(self) -> dict[str, Any]:
        return {"argv": [a if isinstance(a, str) else os.fsdecode(a) for a in self.argv], "rc": self.rc,
                "seconds": round(self.seconds, 1), "hung": self.hung, "orphans": self.orphans,
                "stderr_tail": self.stderr[-1500:], "stdout_head": self.stdout[:300]}


class Proc:
    """A started process of a case (its own session), its output in files."""

    def __init__(self, ctx: Ctx, argv: list, env: dict[str, str], stdin: Any, close_stdout: bool,
                 timeout: float) -> None:
        self.run = Run(argv=list(argv))
        self.out_path = ctx.dir / f".stdout-{len(ctx.runs)}"
        self.err_path = ctx.dir / f".stderr-{len(ctx.runs)}"
        self.timeout = timeout
        self.start = time.monotonic()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            if close_stdout:   # `act-bench ... >&-`: fd 1 closed in the child
                argv = ["/bin/sh", "-c", 'exec "$@" >&-', "sh", *argv]
            self.popen = subprocess.Popen(argv, cwd=ctx.dir, env=env, stdin=stdin,
                                          stdout=subprocess.DEVNULL if close_stdout else out, stderr=err,
                                          start_new_session=True)
        ctx.runs.append(self.run)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int, group: bool) -> None:
        try:
            (os.killpg if group else os.kill)(self.pid, sig)
        except ProcessLookupError:
            pass

    def finish(self, timeout: float | None = None) -> Run:
        """Wait (hard timeout: the group is SIGKILLed and the case hung), then the orphan check, then clean up."""
        limit = self.timeout if timeout is None else timeout
        try:
            self.popen.wait(timeout=max(0.0, limit - (time.monotonic() - self.start)))
        except subprocess.TimeoutExpired:
            self.run.hung = True
            self.signal(signal.SIGKILL, group=True)
            self.popen.wait()
        self.run.seconds = time.monotonic() - self.start
        self.run.rc = self.popen.returncode
        deadline = time.monotonic() + ORPHAN_BOUND_S
        while (left := live_session_members(self.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.run.orphans = left
        if left:
            self.signal(signal.SIGKILL, group=True)
        self.run.stdout = self.out_path.read_bytes().decode("utf-8", "replace")
        self.run.stderr = self.err_path.read_bytes().decode("utf-8", "replace")
        return self.run


# --------------------------------------------------------------------------------------------------------------------
# sentinel snapshots


def snapshot(paths: list[Path]) -> dict[str, Any]:
    """Type, size, mtime, SHA-256 and link target of every path under ``paths`` (symlinks not followed)."""
    found: dict[str, Any] = {}

    def one(p: Path) -> None:
        try:
            st = p.lstat()
        except FileNotFoundError:
            found[os.fsdecode(p)] = None
            return
        key = os.fsdecode(p)
        if p.is_symlink():
            found[key] = ("link", os.readlink(p))
        elif p.is_dir():
            found[key] = ("dir", st.st_mode & 0o7777)
            for child in sorted(p.iterdir()):
                one(child)
        else:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            found[key] = ("file", st.st_size, st.st_mtime_ns, digest, st.st_mode & 0o7777)

    for path in paths:
        one(path)
    return found


def snapshot_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            b, a = before.get(key), after.get(key)
            what = "created" if b is None else "removed" if a is None else "changed"
            out.append(f"{what}: {key}")
    return out


# --------------------------------------------------------------------------------------------------------------------
# local servers


# --------------------------------------------------------------------------------------------------------------------
# context of a run and of a case


@dataclasses.dataclass
class Fixtures:
    """Made once per harness run with the checkout under test: recipes, a finished tiny build, a live-search
    journal and an embedding cache."""

    base: Path
    tiny: Path          # tests/data/tiny-table of the checkout, copied
    recipe: Path        # 1 epoch
    slow: Path          # 30 epochs: a signal lands inside a run
    build: Path | None = None          # folder holding t/ and t.journal/
    build_args: list[str] = dataclasses.field(default_factory=list)
    live: Path | None = None           # live-search journal file
    live_args: list[str] = dataclasses.field(default_factory=list)
    cache: Path | None = None          # cache folder holding one UMAP map of the tiny table
    options: dict[str, list[str]] = dataclasses.field(default_factory=dict)


class Ctx:
    """One case: its folder, environment, sentinel tree and processes."""

    def __init__(self, harness: Harness, name: str) -> None:
        self.h = harness
        self.fx = harness.fx
        self.dir = Path(tempfile.mkdtemp(prefix="case-", dir=harness.work))
        self.sentinel = self.dir / "sentinel"
        self.sentinel.mkdir()
        (self.dir / "home").mkdir()
        self.watched: list[Path] = [self.sentinel]
        self.runs: list[Run] = []
        self.notes: list[str] = []
        self.lost: list[str] = []
        self.wrong: list[str] = []
        self.mounts: list[Path] = []
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(harness.checkout),
                    "HOME": str(self.dir / "home"), "ACT_BENCH_CACHE": str(self.dir / "cache"),
                    "LANG": "C.UTF-8", "HF_HOME": str(self.dir / "hf"), "HF_HUB_OFFLINE": "1",
                    "HF_HUB_DISABLE_TELEMETRY": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
                    "ACT_BENCH_NET_DEADLINE": "600", "NO_COLOR": "1", "TMPDIR": str(self.dir)}
        self.name = name
        self.before: dict[str, Any] | None = None

    # processes ----------------------------------------------------------------------------------------------------
    def argv(self, args: list) -> list:
        """The CLI command line, options the checkout's parser lacks dropped (recorded in the notes)."""
        cmd = [a for a in args[:2] if isinstance(a, str) and not a.startswith("-")]
        key = " ".join(cmd[:2]) if " ".join(cmd[:2]) in self.fx.options else cmd[0] if cmd else ""
        known = self.fx.options.get(key)
        out, skip = [], False
        for i, a in enumerate(args):
            if skip:
                skip = False
                continue
            if known is not None and isinstance(a, str) and a.startswith("--") and a.split("=")[0] not in known:
                self.notes.append(f"option {a} absent from `{key}` here: ran without it")
                takes_value = i + 1 < len(args) and not str(args[i + 1]).startswith("-") and a in VALUE_OPTIONS
                skip = takes_value
                continue
            out.append(a)
        return [PYTHON, "-m", "act_bench.cli._main", *out]

    def start(self, args: list, *, env: dict[str, str] | None = None, stdin: Any = subprocess.DEVNULL,
              close_stdout: bool = False, timeout: float = HARD_TIMEOUT_S, raw: bool = False) -> Proc:
        if self.before is None:   # the sentinel tree as the case set it up, before its first process
            self.before = snapshot(self.watched)
        full_env = {**self.env, **(env or {})}
        full_env = {k: v for k, v in full_env.items() if v is not None}
        return Proc(self, args if raw else self.argv(args), full_env, stdin, close_stdout, timeout)

    def cli(self, args: list, **kw: Any) -> Run:
        timeout = kw.pop("timeout", HARD_TIMEOUT_S)
        return self.start(args, timeout=timeout, **kw).finish()

    def python(self, code: str, **kw: Any) -> Run:
        return self.start([PYTHON, "-c", code], raw=True, **kw).finish()

    # file system ---------------------------------------------------------------------------------------------------
    def tmpfs(self, name: str, size: str, ro: bool = False) -> Path:
        path = self.dir / name
        path.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
        self.mounts.append(path)
        return path

    def remount(self, path: Path, opts: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{opts}", str(path)], check=True)

    def copy_build(self) -> tuple[Path, Path]:
        """A copy of the fixture build: (table folder, journal folder)."""
        assert self.fx.build is not None
        shutil.copytree(self.fx.build / "t", self.dir / "t", symlinks=True)
        shutil.copytree(self.fx.build / "t.journal", self.dir / "t.journal", symlinks=True)
        return self.dir / "t", self.dir / "t.journal"

    def copy_live(self, folder: Path) -> Path:
        assert self.fx.live is not None
        folder.mkdir(parents=True, exist_ok=True)
        for p in self.fx.live.parent.iterdir():
            if p.name.startswith(self.fx.live.name):
                shutil.copy2(p, folder / p.name)
        return folder / self.fx.live.name

    def cleanup(self) -> None:
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(m)], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


#: Options :meth:`Ctx.argv` may drop that take a value (none so far: the dropped ones are flags such as --yes).
VALUE_OPTIONS: frozenset[str] = frozenset()


@dataclasses.dataclass
class Case:
    cls: str
    name: str
    body: Callable[[Ctx], None]
    expect_one_line: bool = False   # bad-input cases: exit 2 with one line when refused


# --------------------------------------------------------------------------------------------------------------------
# helpers of the cases


def db_count(db: Path, sql: str) -> int:
    """One number from an SQLite file, read-only and immutable (no -shm/-wal is created); 0 if unreadable."""
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return 0
    try:
        return int(con.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        con.close()


def wait_until(pred: Callable[[], bool], proc: Proc, timeout: float) -> bool:
    """True once ``pred()`` holds; False if ``proc`` ends first or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        if not proc.alive():
            return False
        time.sleep(0.1)
    return False


def expect_refusal(ctx: Ctx, run: Run, codes: tuple[int, ...] = (2,)) -> None:
    """A bad input: exit in ``codes`` with one line on stderr."""
    if run.hung:
        return
    if run.rc not in codes or not run.one_line():
        ctx.wrong.append(f"expected exit {codes} with one line; got exit {run.rc}, {len(run.lines())} line(s)")


def expect_ok_or_refusal(ctx: Ctx, run: Run) -> None:
    if run.hung:
        return
    if run.rc == 0 or (run.rc == 2 and run.one_line()):
        return
    ctx.wrong.append(f"expected exit 0, or exit 2 with one line; got exit {run.rc}, {len(run.lines())} line(s)")


def json_out(run: Run) -> dict[str, Any]:
    try:
        return json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}


def tiny_copy(ctx: Ctx, dest: Path) -> Path:
    shutil.copytree(ctx.fx.tiny, dest)
    return dest


# --------------------------------------------------------------------------------------------------------------------
# class 1: stops


def stop_build(sig: int, workers: int, seeds: int) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        out = ctx.dir / "t"
        db = ctx.dir / "t.journal" / "journal.sqlite"
        args = ["build", "--recipe", str(ctx.fx.slow), "--out", str(out), "--limit", "1", "--train-seeds", str(seeds),
                "--jobs", str(workers), "--no-progress", "--json"]
        proc = ctx.start(args)
        if not wait_until(lambda: db_count(db, "SELECT COUNT(*) FROM claims WHERE kind = 'run'") > 0, proc, 600):
            ctx.notes.append("no run in flight was seen before the build ended")
        proc.signal(sig, group=True)
        proc.finish()
        failed = db_count(db, "SELECT COUNT(*) FROM results WHERE status = 'failed'")
        if failed:
            ctx.lost.append(f"{failed} run(s) in flight stored as final 'failed' after the stop")
        resumed = ctx.cli([*args, "--resume"])
        summary = json_out(resumed)
        if resumed.rc != 0 or summary.get("complete") is not True or summary.get("runs") != seeds \
                or summary.get("failed_runs", 0) != 0:
            ctx.lost.append(f"resume: exit {resumed.rc}, complete={summary.get('complete')}, "
                            f"runs={summary.get('runs')}, failed_runs={summary.get('failed_runs')} (want {seeds} runs)")
    return body


def stop_search(sig: int) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        db = ctx.dir / "s.sqlite"
        args = ["search", "run", "--recipe", str(ctx.fx.slow), "--journal", str(db), "--budget", "3",
                "--fim-warmup", "0", "--searcher", "random", "--no-background-features", "--workers", "2",
                "--no-progress", "--json"]
        proc = ctx.start(args)
        if not wait_until(lambda: db_count(db, "SELECT COUNT(*) FROM claims WHERE kind = 'run'") > 0, proc, 600):
            ctx.notes.append("no run in flight was seen before the search ended")
        proc.signal(sig, group=True)
        proc.finish()
        failed = db_count(db, "SELECT COUNT(*) FROM results WHERE status = 'failed'")
        if failed:
            ctx.lost.append(f"{failed} run(s) in flight stored as final 'failed' after the stop")
        rerun = ctx.cli(args)
        summary = json_out(rerun)
        results = db_count(db, "SELECT COUNT(*) FROM results WHERE status != 'failed'")
        if rerun.rc != 0 or summary.get("failed", 0) != 0 or results != 3:
            ctx.lost.append(f"rerun: exit {rerun.rc}, failed={summary.get('failed')}, {results} non-failed "
                            "results (want 3)")
    return body


# --------------------------------------------------------------------------------------------------------------------
# class 2: symlinks


def symlinked_build_out(ctx: Ctx) -> None:
    target = ctx.dir / "elsewhere"
    target.mkdir()
    link = ctx.dir / "t"
    link.symlink_to(target)
    run = ctx.cli(["build", "--recipe", str(ctx.fx.recipe), "--out", str(link), "--limit", "1", "--train-seeds", "1",
                   "--jobs", "1", "--no-progress", "--json"])
    expect_ok_or_refusal(ctx, run)
    if run.rc == 0 and not (link / "functions.parquet").exists():
        ctx.wrong.append("exit 0 but no table behind the symlinked --out")


def symlinked_journal_lock(ctx: Ctx) -> None:
    _, jdir = ctx.copy_build()
    secret = ctx.sentinel / "secret.txt"
    secret.write_text("the user's file, the lock's symlink target\n")
    lock = jdir / "journal.sqlite.lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(secret)
    run = ctx.cli([*ctx.fx.build_args[:2], "--out", str(ctx.dir / "t"), *ctx.fx.build_args[4:], "--resume"])
    expect_ok_or_refusal(ctx, run)


def symlinked_card_figure(ctx: Ctx) -> None:
    table = tiny_copy(ctx, ctx.dir / "tbl")
    secret = ctx.sentinel / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nSECRET-CONTENT-OF-THE-USER" * 4)
    (table / "fig.png").symlink_to(secret)
    meta = json.loads((table / "metadata.json").read_text())
    meta["figures"] = [{"file": "fig.png", "title": "a figure"}]
    (table / "metadata.json").write_text(json.dumps(meta, indent=2))
    out = ctx.dir / "export"
    run = ctx.cli(["export-hf", "--table", str(table), "--out", str(out), "--json"])
    expect_ok_or_refusal(ctx, run)
    leaked = [p for p in out.rglob("*") if p.is_file() and b"SECRET-CONTENT" in p.read_bytes()] if out.exists() else []
    if leaked:
        ctx.wrong.append(f"the symlinked figure's target was copied into the export: {leaked[0]}")


def symlinked_cache_embeddings(ctx: Ctx) -> None:
    cache = ctx.dir / "cache"
    cache.mkdir()
    user = ctx.sentinel / "my-embeddings"
    user.mkdir()
    (user / "thesis-map.npy").write_bytes(b"user data " * 100)
    (user / "notes.json").write_text('{"mine": true}')
    (cache / "embeddings").symlink_to(user)
    run = ctx.cli(["cache", "clear", "--cache-dir", str(cache), "--yes", "--json"])
    expect_ok_or_refusal(ctx, run)
    if not (user / "thesis-map.npy").exists():
        ctx.lost.append("cache clear deleted the files behind a symlinked embeddings folder")


def resume_keeps_user_files(ctx: Ctx) -> None:
    out, _ = ctx.copy_build()
    mine = out / "my-notes.txt"
    mine.write_text("the user's own notes, kept in the table folder\n")
    (out / "figs").mkdir()
    (out / "figs" / "loss.png").write_bytes(b"png bytes")
    ctx.watched += [mine, out / "figs"]
    run = ctx.cli([*ctx.fx.build_args[:2], "--out", str(out), *ctx.fx.build_args[4:], "--resume"])
    expect_ok_or_refusal(ctx, run)
    if not mine.exists() or not (out / "figs" / "loss.png").exists():
        ctx.lost.append("build --resume deleted the user's own files in --out")


def symlinked_export_out(ctx: Ctx) -> None:
    user = ctx.sentinel / "my-folder"
    user.mkdir()
    (user / "draft.txt").write_text("keep me\n")
    link = ctx.dir / "exp"
    link.symlink_to(user)
    run = ctx.cli(["export-synetune", "--table", str(ctx.fx.tiny), "--out", str(link), "--json"])
    expect_refusal(ctx, run)
    if not (user / "draft.txt").exists():
        ctx.lost.append("the user's file behind the symlinked --out was deleted")


def symlinked_download_lock(ctx: Ctx) -> None:
    server = Server("notfound")
    try:
        cache = ctx.dir / "cache"
        (cache / "downloads").mkdir(parents=True)
        secret = ctx.sentinel / "secret.txt"
        secret.write_text("the target of a planted download lock\n")
        for name in ("act-bench-cnn.json.lock", "act-bench-cnn.json.part.lock"):
            (cache / "downloads" / name).symlink_to(secret)
        run = ctx.cli(["fetch", "act-bench-cnn", "--url", server.url, "--accept-license", "--cache-dir", str(cache),
                       "--retries", "0"], env={"ACT_BENCH_NET_DEADLINE": "20"})
        errors = [ln for ln in run.lines() if "error" in ln.lower() or TRACEBACK in ln]   # not the licence notice
        if not run.hung and (run.rc not in (1, 2) or len(errors) != 1):
            ctx.wrong.append(f"expected one error line, exit 1 or 2 (404); got exit {run.rc}, {len(errors)} lines")
    finally:
        server.close()


# --------------------------------------------------------------------------------------------------------------------
# class 3: cache


def foreign_cache_clear(ctx: Ctx) -> None:
    folder = ctx.sentinel / "my-project"
    for rel, data in {"notes.txt": b"mine", "embeddings/map.npy": b"mine too", "downloads/big.json": b"{}",
                      "tables/x/data.csv": b"a,b\n1,2\n", "LICENSE-accepted.json": b"{}"}.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    run = ctx.cli(["cache", "clear", "--cache-dir", str(folder), "--yes", "--json"])
    expect_ok_or_refusal(ctx, run)
    gone = [str(p.relative_to(folder)) for p in [folder / "notes.txt", folder / "embeddings/map.npy",
                                                 folder / "downloads/big.json", folder / "tables/x/data.csv"]
            if not p.exists()]
    if gone:
        ctx.lost.append(f"cache clear deleted files of a folder act-bench did not create: {gone}")


def cache_clear_unconfirmed(ctx: Ctx) -> None:
    assert ctx.fx.cache is not None
    cache = ctx.dir / "cache"
    shutil.copytree(ctx.fx.cache, cache)
    before = sorted(p for p in cache.rglob("*") if p.is_file())
    run = ctx.cli(["cache", "clear", "--cache-dir", str(cache)], stdin=subprocess.DEVNULL)
    gone = [p.name for p in before if not p.exists()]
    if gone:
        ctx.lost.append(f"cache clear without --yes off a terminal deleted {len(gone)} cache file(s)")
    if run.rc != 0 and not run.one_line():
        ctx.wrong.append(f"refused with {len(run.lines())} lines")


def plot_map(ctx: Ctx, cache: Path) -> Run:
    return ctx.cli(["plot", "map", "--table", str(ctx.fx.tiny), "--features", "outputs", "--cache-dir", str(cache),
                    "--out", str(ctx.dir / "map.png"), "--json"], env={"ACT_BENCH_CACHE": str(cache)})


def unwritable_cache(ctx: Ctx) -> None:
    cache = ctx.tmpfs("ro-cache", "1m")
    ctx.remount(cache, "ro")
    run = plot_map(ctx, cache)
    if not run.hung and (run.rc != 0 or not (ctx.dir / "map.png").exists()):
        ctx.wrong.append(f"an unwritable cache ended the command with exit {run.rc} (want: go on without caching)")


def cache_under_a_file(ctx: Ctx) -> None:
    blocker = ctx.sentinel / "not-a-folder"
    blocker.write_text("a file where the cache's parent should be\n")
    run = plot_map(ctx, blocker / "cache")
    if not run.hung and (run.rc != 0 or not (ctx.dir / "map.png").exists()):
        ctx.wrong.append(f"a cache that cannot be created ended the command with exit {run.rc} (want: go on)")


def _npy_of(cache: Path) -> Path:
    return next(p for p in (cache / "embeddings").iterdir() if p.suffix == ".npy")


def corrupt_cached_map(ctx: Ctx) -> None:
    assert ctx.fx.cache is not None
    cache = ctx.dir / "cache"
    shutil.copytree(ctx.fx.cache, cache)
    npy = _npy_of(cache)
    original = npy.read_bytes()
    coords = np.load(npy)
    np.save(npy, coords[::-1] * 3.0 + 1.0)   # finite, same shape and dtype: only a checksum tells
    run = plot_map(ctx, cache)
    if not run.hung and run.rc != 0:
        ctx.wrong.append(f"exit {run.rc}")
    if npy.exists() and npy.read_bytes() != original:
        ctx.wrong.append("the corrupt (finite) cached map was used, not recomputed")


def wrong_cache_entry(kind: str) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        assert ctx.fx.cache is not None
        cache = ctx.dir / "cache"
        shutil.copytree(ctx.fx.cache, cache)
        npy = _npy_of(cache)
        bad = {"shape": np.zeros((3, 5)), "strings": np.array(["a", "b"] * 6).reshape(6, 2),
               "object json": None}[kind]
        if bad is None:
            npy.with_suffix(".json").write_text('["not", "an", "object"]')
        else:
            np.save(npy, bad)
        run = plot_map(ctx, cache)
        if not run.hung and (run.rc != 0 or not (ctx.dir / "map.png").exists()):
            ctx.wrong.append(f"a cache entry of the wrong type ({kind}) was not recomputed: exit {run.rc}")
    return body


# --------------------------------------------------------------------------------------------------------------------
# class 4: journals


def corrupt(path: Path, offset: int = 4096, length: int = 2048) -> None:
    data = bytearray(path.read_bytes())
    for i in range(offset, min(offset + length, len(data))):
        data[i] = (data[i] * 7 + 13) % 256
    path.write_bytes(bytes(data))


def corrupt_build_journal(ctx: Ctx) -> None:
    out, jdir = ctx.copy_build()
    corrupt(jdir / "journal.sqlite")
    ctx.watched.append(jdir)
    run = ctx.cli([*ctx.fx.build_args[:2], "--out", str(out), *ctx.fx.build_args[4:], "--resume"])
    expect_refusal(ctx, run)


def corrupt_live_journal(ctx: Ctx) -> None:
    journal = ctx.copy_live(ctx.dir / "j")
    corrupt(journal)
    ctx.watched.append(journal.parent)
    run = ctx.cli([*ctx.fx.live_args[:4], "--journal", str(journal), *ctx.fx.live_args[6:]])
    expect_refusal(ctx, run)


def foreign_sqlite_as_journal(ctx: Ctx) -> None:
    db = ctx.sentinel / "inventory.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    con.executemany("INSERT INTO items (name) VALUES (?)", [("chair",), ("table",)])
    con.commit()
    con.close()
    run = ctx.cli([*ctx.fx.live_args[:4], "--journal", str(db), *ctx.fx.live_args[6:]])
    expect_refusal(ctx, run)


def read_only_command(which: str) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        if which == "snapshot":
            out, jdir = ctx.copy_build()
            shutil.rmtree(out)
            ctx.watched.append(jdir)
            run = ctx.cli([*ctx.fx.build_args[:2], "--out", str(out), *ctx.fx.build_args[4:], "--snapshot"])
        else:
            journal = ctx.copy_live(ctx.sentinel / "j")
            args = {"status": ["search", "status", "--journal", str(journal), "--json"],
                    "export": ["search", "export", "--journal", str(journal), "--out", str(ctx.dir / "exp"),
                               "--json"]}[which]
            run = ctx.cli(args)
        if not run.hung and run.rc != 0:
            ctx.wrong.append(f"a read-only command on a good journal exited {run.rc}")
    return body


def config_not_json(kind: str) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        if kind == "build":
            out, jdir = ctx.copy_build()
            db = jdir / "journal.sqlite"
        else:
            db = ctx.copy_live(ctx.dir / "j")
        con = sqlite3.connect(db)
        con.execute("UPDATE config SET value = '{not json: ' || key")
        con.commit()
        con.close()
        ctx.watched.append(db.parent)
        if kind == "build":
            run = ctx.cli([*ctx.fx.build_args[:2], "--out", str(out), *ctx.fx.build_args[4:], "--resume"])
        else:
            run = ctx.cli(["search", "status", "--journal", str(db), "--json"])
        expect_refusal(ctx, run)
    return body


def full_disk(kind: str) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        disk = ctx.tmpfs("disk", "300k")
        if kind == "build":
            db = disk / "t.journal" / "journal.sqlite"
            args = [*ctx.fx.build_args[:2], "--out", str(disk / "t"), *ctx.fx.build_args[4:]]
        else:
            db = disk / "s.sqlite"
            args = [*ctx.fx.live_args[:4], "--journal", str(db), *ctx.fx.live_args[6:]]
        run = ctx.cli(args)
        if not run.hung and run.rc == 0:
            ctx.notes.append("it fitted in 300 KiB")
        elif not run.hung and (run.rc != 2 or not run.one_line()):
            ctx.wrong.append(f"a full disk: exit {run.rc}, {len(run.lines())} lines (want exit 2, one line)")
        ctx.remount(disk, "size=64m")
        if db.exists():   # what a full disk left must not block a rerun
            try:
                con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
                verdict = con.execute("PRAGMA integrity_check").fetchone()[0]
                con.close()
            except sqlite3.Error as exc:
                verdict = str(exc)
            if verdict != "ok":
                ctx.lost.append(f"the journal a full disk left is malformed ({verdict}): every rerun is blocked")
            rerun = ctx.cli(["search", "status", "--journal", str(db)] if kind == "live" else
                            [*args, "--snapshot"])
            if "malformed" in rerun.stderr:
                ctx.lost.append("after freeing space the journal reads as malformed")
    return body


def read_only_journal_folder(ctx: Ctx) -> None:
    folder = ctx.tmpfs("ro", "64m")
    journal = ctx.copy_live(folder)
    ctx.remount(folder, "ro")
    run = ctx.cli(["search", "status", "--journal", str(journal), "--json"])
    if not run.hung and run.rc != 0:
        ctx.wrong.append(f"a journal in a read-only folder could not be read: exit {run.rc}")


# --------------------------------------------------------------------------------------------------------------------
# class 5: replay workers


def replay_stop(sig: int, group: bool, when: str) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        proc = ctx.start(["replay", "--table", "act-bench-mnist1d", "--algorithms", "random", "--budget", "300",
                          "--seeds", "3000", "--jobs", "2", "--cache-dir", str(ctx.dir / "cache"),
                          "--out", str(ctx.dir / "out")])
        if when == "starting":
            seen = wait_until(lambda: len(pool_workers(proc.pid)) == 2, proc, 300)
        else:
            seen = wait_until(lambda: len(w := pool_workers(proc.pid)) == 2 and all(n_threads(p) > 1 for p in w),
                              proc, 300)
        if not seen:
            ctx.notes.append(f"the two workers were not seen {when}")
        proc.signal(sig, group)
        run = proc.finish()
        if sig == signal.SIGINT and not run.hung and (run.rc != 130 or not run.lines()
                                                      or "interrupted" not in run.lines()[-1]):
            ctx.wrong.append(f"Ctrl-C: exit {run.rc}, last line {run.lines()[-1:]}")
    return body


# --------------------------------------------------------------------------------------------------------------------
# class 6: network


def network(mode: str, command: str) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        server = Server(mode)
        try:
            cache = ctx.tmpfs("cache", "64m")   # an endless body without a cap fills this, not the disk
            env = {"ACT_BENCH_NET_DEADLINE": str(NET_DEADLINE_S), "HF_ENDPOINT": server.url, "HF_TOKEN": "hf_test",
                   "HF_HUB_OFFLINE": None, "ACT_BENCH_CACHE": str(cache), "ACT_BENCH_MAX_DOWNLOAD_BYTES": "1000000"}
            args = {"fetch": ["fetch", "act-bench-cnn", "--url", server.url, "--accept-license", "--retries", "2"],
                    "table info": ["table", "info", "--table", "someone/some-table"],
                    "publish": ["publish", "--table", str(ctx.fx.tiny), "--repo-id", "someone/some-table"]}[command]
            run = ctx.cli(args, env=env, timeout=NET_DEADLINE_S + NET_MARGIN_S)
            errors = [ln for ln in run.lines() if "error" in ln.lower() or TRACEBACK in ln]
            if not run.hung and (run.rc != 1 or len(errors) != 1):
                ctx.wrong.append(f"exit {run.rc} with {len(errors)} error line(s) (want exit 1, one line)")
        finally:
            server.close()
    return body


# --------------------------------------------------------------------------------------------------------------------
# class 7: bad inputs


def bad_cli(args_of: Callable[[Ctx], list], *, env: dict[str, str | None] | None = None, codes=(2,),
            ok_allowed: bool = False, close_stdout: bool = False) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        run = ctx.cli(args_of(ctx), env=env, close_stdout=close_stdout)
        if ok_allowed:
            expect_ok_or_refusal(ctx, run)
        else:
            expect_refusal(ctx, run, codes)
    return body


def non_utf8_table(ctx: Ctx) -> list:
    folder = ctx.dir.joinpath(os.fsdecode(b"tbl-\xff\xfe"))
    tiny_copy(ctx, folder)
    return ["table", "info", "--table", os.fsencode(folder)]


def non_utf8_out(ctx: Ctx) -> list:
    return ["export-hf", "--table", str(ctx.fx.tiny), "--out", os.fsencode(ctx.dir) + b"/out-\xff"]


def c_locale_table(ctx: Ctx) -> list:
    folder = tiny_copy(ctx, ctx.dir / "tablé-ü")
    return ["table", "info", "--table", str(folder)]


def closed_stdout(args_of: Callable[[Ctx], list]) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        run = ctx.cli(args_of(ctx), close_stdout=True)
        if not run.hung and len(run.lines()) > 1:
            ctx.wrong.append(f"a closed stdout: exit {run.rc}, {len(run.lines())} lines on stderr")
    return body


def crafted(what: str) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        table = tiny_copy(ctx, ctx.dir / "crafted")
        runs, funcs = pd.read_parquet(table / "runs.parquet"), pd.read_parquet(table / "functions.parquet")
        meta = json.loads((table / "metadata.json").read_text())
        command = ["table", "info", "--table", str(table), "--json"]
        if what == "negative seed":
            runs.loc[0, "seed"] = -5
        elif what == "huge seed":
            runs.loc[0, "seed"] = 2 ** 62
        elif what == "schema_version":
            meta["schema_version"] = "one"
        elif what == "all-NaN outputs":
            funcs["outputs"] = [np.full(len(o), np.nan) for o in funcs["outputs"]]
        else:
            curve = {"non-finite curve": [0.5, float("nan"), 0.7], "out-of-range curve": [0.5, 1.7, 0.9],
                     "decreasing seconds": [0.5, 0.6, 0.7]}[what]
            seconds = [3.0, 2.0, 1.0] if what == "decreasing seconds" else [1.0, 2.0, 3.0]
            runs["curve_val_accuracy"] = [curve] * len(runs)
            runs["curve_val_loss"] = [[1.0, 0.9, 0.8]] * len(runs)
            runs["curve_train_loss"] = [[1.0, 0.9, 0.8]] * len(runs)
            runs["curve_seconds"] = [seconds] * len(runs)
            command = ["export-synetune", "--table", str(table), "--out", str(ctx.dir / "st"), "--json"]
        runs.to_parquet(table / "runs.parquet", index=False)
        funcs.to_parquet(table / "functions.parquet", index=False)
        (table / "metadata.json").write_text(json.dumps(meta, indent=2))
        expect_refusal(ctx, ctx.cli(command))
    return body


TELL_SCRIPT = """
import json, sys
from act_bench.errors import InvalidInputError
from act_bench.search import CandidateSet, create_searcher
from act_bench.interop import load_table
bad = {"bool": True, "inf": float("inf"), "string": "0.5"}[sys.argv[1]]
s = create_searcher("random", CandidateSet.from_table(load_table(sys.argv[2])), seed=0)
g = s.ask()[0]
try:
    s.tell(g, bad)
    outcome = "accepted"
except InvalidInputError:
    outcome = "refused"
except (TypeError, ValueError) as exc:
    outcome = "other error: " + type(exc).__name__
print(json.dumps({"outcome": outcome, "pending": g.index in list(s.pending)}))
"""


def bad_tell(kind: str) -> Callable[[Ctx], None]:
    def body(ctx: Ctx) -> None:
        run = ctx.start([PYTHON, "-c", TELL_SCRIPT, kind, str(ctx.fx.tiny)], raw=True).finish()
        got = json_out(run)
        if not run.hung and got != {"outcome": "refused", "pending": True}:
            ctx.wrong.append(f"tell(suggestion, {kind}): {got or 'exit ' + str(run.rc)} (want refused, pending)")
    return body


LONG_ID = "someone/" + "a" * 292


CASES: list[Case] = [
    Case("stops", "build, SIGTERM to the group mid-run (2 workers), --resume", stop_build(signal.SIGTERM, 2, 2)),
    Case("stops", "build, SIGINT to the group mid-run (2 workers), --resume", stop_build(signal.SIGINT, 2, 2)),
    Case("stops", "build, SIGTERM to the group mid-run (1 worker), --resume", stop_build(signal.SIGTERM, 1, 1)),
    Case("stops", "search run, SIGTERM to the group mid-run, rerun", stop_search(signal.SIGTERM)),
    Case("stops", "search run, SIGINT to the group mid-run, rerun", stop_search(signal.SIGINT)),
    Case("symlinks", "build --out a symlink to an empty folder", symlinked_build_out),
    Case("symlinks", "build --resume with the journal lock a symlink to a user file", symlinked_journal_lock),
    Case("symlinks", "export-hf of a table whose card figure is a symlink to a user file", symlinked_card_figure),
    Case("symlinks", "cache clear --yes with embeddings/ a symlink to a user folder", symlinked_cache_embeddings),
    Case("symlinks", "build --resume with the user's own files in --out", resume_keeps_user_files),
    Case("symlinks", "export-synetune --out a symlink to a non-empty user folder", symlinked_export_out),
    Case("symlinks", "fetch with the download lock a symlink to a user file (404 server)", symlinked_download_lock),
    Case("cache", "cache clear --yes on a folder act-bench did not create", foreign_cache_clear),
    Case("cache", "cache clear without --yes, stdin not a terminal", cache_clear_unconfirmed),
    Case("cache", "plot map with a read-only cache (ro tmpfs)", unwritable_cache),
    Case("cache", "plot map with a cache under a regular file", cache_under_a_file),
    Case("cache", "plot map with a corrupt but finite cached map", corrupt_cached_map),
    Case("cache", "plot map with a cached map of the wrong shape", wrong_cache_entry("shape")),
    Case("cache", "plot map with a cached map of strings", wrong_cache_entry("strings")),
    Case("cache", "plot map with a cache entry's JSON a list", wrong_cache_entry("object json")),
    Case("journals", "build --resume on a corrupted journal (refused, bytes unchanged)", corrupt_build_journal),
    Case("journals", "search run on a corrupted live journal (refused, bytes unchanged)", corrupt_live_journal),
    Case("journals", "search run --journal a foreign SQLite database", foreign_sqlite_as_journal),
    Case("journals", "search status leaves no -wal/-shm", read_only_command("status")),
    Case("journals", "search export leaves no -wal/-shm", read_only_command("export")),
    Case("journals", "build --snapshot leaves the journal untouched", read_only_command("snapshot")),
    Case("journals", "search status, journal config values not JSON", config_not_json("live")),
    Case("journals", "build --resume, journal config values not JSON", config_not_json("build")),
    Case("journals", "search run on a full disk (300 KiB tmpfs)", full_disk("live")),
    Case("journals", "build on a full disk (300 KiB tmpfs)", full_disk("build")),
    Case("journals", "search status of a journal in a read-only folder", read_only_journal_folder),
    Case("replay", "replay --jobs 2: SIGKILL the driver, workers starting", replay_stop(signal.SIGKILL, False,
                                                                                        "starting")),
    Case("replay", "replay --jobs 2: SIGTERM the driver, workers starting", replay_stop(signal.SIGTERM, False,
                                                                                        "starting")),
    Case("replay", "replay --jobs 2: Ctrl-C the group, workers starting", replay_stop(signal.SIGINT, True,
                                                                                      "starting")),
    Case("replay", "replay --jobs 2: Ctrl-C the group, workers computing", replay_stop(signal.SIGINT, True,
                                                                                       "computing")),
    Case("replay", "replay --jobs 2: SIGKILL the driver, workers computing", replay_stop(signal.SIGKILL, False,
                                                                                         "computing")),
    Case("replay", "replay --jobs 2: SIGTERM the group, workers computing", replay_stop(signal.SIGTERM, True,
                                                                                        "computing")),
    Case("network", "fetch from a server that never answers", network("silent", "fetch")),
    Case("network", "fetch from a trickling server", network("trickle", "fetch")),
    Case("network", "fetch of a body without Content-Length (cap 1 MB)", network("endless", "fetch")),
    Case("network", "table info of a Hub id, endpoint never answers", network("silent", "table info")),
    Case("network", "table info of a Hub id, endpoint trickles", network("trickle", "table info")),
    Case("network", "publish, endpoint never answers", network("silent", "publish")),
    Case("network", "publish, endpoint trickles", network("trickle", "publish")),
    Case("inputs", "table info of a non-UTF-8 path", bad_cli(non_utf8_table, ok_allowed=True)),
    Case("inputs", "export-hf --out a non-UTF-8 path", bad_cli(non_utf8_out, ok_allowed=True)),
    Case("inputs", "LC_ALL=C: space show with a non-ASCII expression",
         bad_cli(lambda ctx: ["space", "show", "relu(x)+é"],
                 env={"LC_ALL": "C", "LANG": None, "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"})),
    Case("inputs", "LC_ALL=C: table info of a non-ASCII folder",
         bad_cli(c_locale_table, ok_allowed=True,
                 env={"LC_ALL": "C", "LANG": None, "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"})),
    Case("inputs", "table info ~nosuchuser/t", bad_cli(lambda ctx: ["table", "info", "--table", "~nosuchuser/t"])),
    Case("inputs", "export-hf --out ~nosuchuser/out",
         bad_cli(lambda ctx: ["export-hf", "--table", str(ctx.fx.tiny), "--out", "~nosuchuser/out"])),
    Case("inputs", "table info of a 300-character Hub id",
         bad_cli(lambda ctx: ["table", "info", "--table", LONG_ID], env={"HF_ENDPOINT": "http://127.0.0.1:9"})),
    Case("inputs", "recipes list >&- (closed stdout)", closed_stdout(lambda ctx: ["recipes", "list"])),
    Case("inputs", "table info --json >&- (closed stdout)",
         closed_stdout(lambda ctx: ["table", "info", "--table", str(ctx.fx.tiny), "--json"])),
    Case("inputs", "crafted table: a negative seed", crafted("negative seed")),
    Case("inputs", "crafted table: a seed of 2**62", crafted("huge seed")),
    Case("inputs", "crafted table: schema_version 'one'", crafted("schema_version")),
    Case("inputs", "crafted table: all-NaN outputs", crafted("all-NaN outputs")),
    Case("inputs", "crafted table: a learning curve with NaN", crafted("non-finite curve")),
    Case("inputs", "crafted table: a learning curve above 1", crafted("out-of-range curve")),
    Case("inputs", "crafted table: decreasing curve seconds", crafted("decreasing seconds")),
    Case("inputs", "tell() with a bool", bad_tell("bool")),
    Case("inputs", "tell() with inf", bad_tell("inf")),
    Case("inputs", "tell() with a string", bad_tell("string")),
]


# --------------------------------------------------------------------------------------------------------------------
# the harness


OPTIONS_SCRIPT = """
import argparse, json, act_bench
from act_bench.cli import build_parser
def walk(p, prefix):
    yield prefix, p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from walk(sub, (prefix + " " + name).strip())
print(json.dumps({"file": act_bench.__file__, "options": {k: sorted(o for a in p._actions for o in a.option_strings)
                                                          for k, p in walk(build_parser(), "")}}))
"""

FIXTURE_SCRIPT = """
import sys
from pathlib import Path
from data_builders.recipes import get_recipe, save_recipe
folder = Path(sys.argv[1])
for name, epochs in (("tiny.yaml", 1), ("slow.yaml", 30)):
    recipe = get_recipe("act-bench-mnist1d").with_overrides(
        epochs=epochs, task_args={"num_samples": 1000, "val_size": 100}, fim_batch_size=32)
    save_recipe(recipe, folder / name)
"""


class Harness:
    def __init__(self, checkout: Path, work: Path) -> None:
        self.checkout, self.work = checkout, work
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        probe = subprocess.run([PYTHON, "-c", OPTIONS_SCRIPT], env=env, cwd=work, capture_output=True, text=True,
                               check=True)
        info = json.loads(probe.stdout)
        if not Path(info["file"]).resolve().is_relative_to(checkout.resolve()):
            raise SystemExit(f"act_bench resolves to {info['file']}, not inside {checkout}")
        self.act_bench_file = info["file"]
        base = work / "fixtures"
        base.mkdir()
        shutil.copytree(checkout / "tests" / "data" / "tiny-table", base / "tiny-table")
        subprocess.run([PYTHON, "-c", FIXTURE_SCRIPT, str(base)], env=env, cwd=work, check=True)
        self.fx = Fixtures(base=base, tiny=base / "tiny-table", recipe=base / "tiny.yaml", slow=base / "slow.yaml",
                           options={k: v for k, v in info["options"].items() if k})
        self.fixture_log: list[dict[str, Any]] = []

    def _fixture_run(self, args: list[str]) -> Run:
        run = Ctx(self, "fixture").cli(args)
        self.fixture_log.append(run.summary())
        if run.rc != 0:
            raise SystemExit(f"fixture command failed: {args}\n{run.stderr[-3000:]}")
        return run

    def make_fixtures(self, classes: set[str]) -> None:
        fx = self.fx
        if classes & {"symlinks", "journals"}:
            fx.build = fx.base / "build"
            fx.build.mkdir()
            # the cases run build_args[:2] + ["--out", X] + build_args[4:] (and the live ones live_args likewise)
            fx.build_args = ["build", f"--recipe={fx.recipe}", "--out", "OUT", "--limit", "2", "--train-seeds", "1",
                             "--jobs", "1", "--no-progress", "--json"]
            self._fixture_run([*fx.build_args[:2], "--out", str(fx.build / "t"), *fx.build_args[4:]])
        if "journals" in classes:
            fx.live = fx.base / "live" / "s.sqlite"
            fx.live.parent.mkdir()
            fx.live_args = ["search", "run", f"--recipe={fx.recipe}", "--no-progress", "--journal", "J",
                            "--budget", "2", "--fim-warmup", "0", "--searcher", "random",
                            "--no-background-features", "--workers", "1", "--json"]
            self._fixture_run([*fx.live_args[:4], "--journal", str(fx.live), *fx.live_args[6:]])
        if "cache" in classes:
            fx.cache = fx.base / "cache"
            self._fixture_run(["plot", "map", "--table", str(fx.tiny), "--features", "outputs", "--cache-dir",
                               str(fx.cache), "--out", str(fx.base / "map.png")])

    def run_case(self, case: Case) -> dict[str, Any]:
        ctx = Ctx(self, case.name)
        start = time.monotonic()
        error = None
        try:
            case.body(ctx)
        except Exception as exc:  # noqa: BLE001 -- the harness's own failure: reported, never counted
            error = f"{type(exc).__name__}: {exc}"
        after = snapshot(ctx.watched)
        writes = snapshot_diff(ctx.before, after) if ctx.before is not None and not error else []
        checks = {
            "traceback": any(TRACEBACK in r.stderr for r in ctx.runs),
            "writes_outside": bool(writes),
            "data_lost": bool(ctx.lost),
            "orphans": any(r.orphans for r in ctx.runs),
            "hangs": any(r.hung for r in ctx.runs),
            "wrong_outcome": bool(ctx.wrong),
        }
        result = {"class": case.cls, "case": case.name, "failed": any(checks.values()), "checks": checks,
                  "writes": writes, "lost": ctx.lost, "wrong": ctx.wrong, "notes": ctx.notes,
                  "harness_error": error, "seconds": round(time.monotonic() - start, 1),
                  "runs": [r.summary() for r in ctx.runs]}
        ctx.cleanup()
        detail = "; ".join([k for k, v in checks.items() if v] + ctx.lost + ctx.wrong + writes[:2])
        print(f"{'FAIL' if result['failed'] else 'ok  '} [{case.cls}] {case.name} ({result['seconds']} s)"
              + (f": {detail}" if detail else "") + (f" harness error: {error}" if error else ""),
              file=sys.stderr, flush=True)
        return result


def render(results: list[dict[str, Any]], checkout: str, wall: float) -> str:
    cols = ["traceback", "writes_outside", "data_lost", "orphans", "hangs", "wrong_outcome"]
    head = ["class", "cases", "tracebacks", "writes outside", "data lost", "orphans", "hangs", "wrong outcome",
            "failed cases"]
    lines = [f"act-bench adversarial cases against {checkout} ({wall / 60:.1f} min)", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    total = [0] * (len(cols) + 2)
    for cls in CLASSES:
        rows = [r for r in results if r["class"] == cls]
        if not rows:
            continue
        counts = [len(rows), *[sum(r["checks"][c] for r in rows) for c in cols], sum(r["failed"] for r in rows)]
        total = [a + b for a, b in zip(total, counts, strict=True)]
        lines.append("| " + " | ".join([cls, *map(str, counts)]) + " |")
    lines.append("| " + " | ".join(["**total**", *(f"**{n}**" for n in total)]) + " |")
    errors = [r for r in results if r["harness_error"]]
    if errors:
        lines += ["", "harness errors (not counted): " + "; ".join(f"{r['case']}: {r['harness_error']}"
                                                                for r in errors)]
    failed = [r for r in results if r["failed"]]
    if failed:
        lines += ["", "failed cases:"]
        for r in failed:
            why = [c for c in cols if r["checks"][c]]
            detail = "; ".join(r["lost"] + r["wrong"] + r["writes"][:3])
            lines.append(f"- [{r['class']}] {r['case']}: {', '.join(why)}" + (f" ({detail})" if detail else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkout", type=Path, default=ROOT, help="checkout whose act-bench runs (default: this)")
    parser.add_argument("--classes", default=",".join(CLASSES), help=f"comma-separated, of {', '.join(CLASSES)}")
    parser.add_argument("--cases", default="", help="only cases whose name contains this text")
    parser.add_argument("--jobs", type=int, default=3, help="cases run at once (default 3)")
    parser.add_argument("--json", type=Path, help="write the per-case details here")
    args = parser.parse_args(argv)
    # A shell without job control starts a background job with SIGINT and SIGQUIT ignored, and an ignored signal
    # stays ignored across exec: the cases' processes would never see their Ctrl-C. A handler is reset on exec.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    classes = {c.strip() for c in args.classes.split(",") if c.strip()}
    unknown = classes - set(CLASSES)
    if unknown:
        parser.error(f"unknown classes {sorted(unknown)}; valid: {', '.join(CLASSES)}")
    cases = [c for c in CASES if c.cls in classes and args.cases in c.name]
    git = {what: subprocess.run(["git", "-C", str(args.checkout), *cmd], check=False, capture_output=True,
                                text=True).stdout.strip()
           for what, cmd in (("head", ["rev-parse", "HEAD"]),
                             ("modified", ["status", "--short", "--untracked-files=no"]))}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="act-bench-adversarial-") as tmp:
        harness = Harness(args.checkout.resolve(), Path(tmp))
        harness.make_fixtures({c.cls for c in cases})
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(harness.run_case, cases))
    wall = time.monotonic() - start
    print(render(results, str(args.checkout), wall))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"checkout": str(args.checkout), "act_bench": harness.act_bench_file,
                                         "git_head": git["head"] or None,
                                         "git_modified": git["modified"].splitlines(),
                                         "wall_s": round(wall, 1), "fixtures": harness.fixture_log,
                                         "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
