"""The CLI as a child process for the kill tests, waiting on it, and the processes of its session read from /proc
(Linux): the no-orphans checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _terminal_signals() -> None:
    """In the started command: Ctrl-C and SIGTERM as a terminal user's command gets them (their default actions),
    whatever this test process inherited (a test run started in the background by a shell without job control
    ignores SIGINT, and an ignored signal stays ignored across exec)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def cli_process(*args: str, **kw: Any) -> subprocess.Popen:
    """``python -m act_bench.cli._main ARGS`` in a session of its own (a test can signal its whole group), with the
    signal dispositions of a terminal user's command, text stdout and stderr piped unless ``kw`` says otherwise
    (e.g. ``stderr=`` a log file, ``env=``)."""
    kw = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "preexec_fn": _terminal_signals, **kw}
    return subprocess.Popen([sys.executable, "-m", "act_bench.cli._main", *args], text=True, start_new_session=True,
                            **kw)


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen, *, timeout: float = 300,
             log: Path | None = None) -> None:
    """Return once ``predicate()`` holds; fail if ``proc`` ends first (with its output, or the tail of its stderr
    ``log``) or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            output = log.read_text()[-3000:] if log is not None else proc.communicate()
            raise AssertionError(f"the process ended before the awaited event: {output}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"the awaited event did not happen within {timeout:g} s")
        time.sleep(0.05)


def live_session_members(session: int) -> list[str]:
    """``pid comm`` of every process of ``session`` that is not a zombie (read from /proc, no psutil)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        comm, rest = stat[stat.index("(") + 1: stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        state, sid = rest[0], int(rest[3])
        if sid == session and state != "Z":
            found.append(f"{entry.name} {comm}")
    return found


def members_after(session: int, bound: float) -> list[str]:
    """The live members of ``session`` once none is left, or those still alive ``bound`` seconds from now."""
    deadline = time.monotonic() + bound
    while (left := live_session_members(session)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def children_of(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (read from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def pool_workers(driver: int) -> list[int]:
    """The spawned multiprocessing workers of ``driver`` (not its resource tracker)."""
    found = []
    for pid in children_of(driver):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            found.append(pid)
    return found


def n_threads(pid: int) -> int:
    """How many threads ``pid`` runs (0 once it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0
