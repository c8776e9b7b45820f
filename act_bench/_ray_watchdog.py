"""A watchdog that ends the processes of a local Ray cluster when the driver that started it dies, whatever killed it.

``ray.init()`` without an address starts a local cluster as children of the driver (GCS server, raylet, dashboard
head, log monitor, autoscaler monitor); the raylet then starts the dashboard agent, the runtime-env agent and the
workers. Ray ends the driver's direct children with a Linux parent-death signal and the workers notice the raylet's
death, but the two agents outlive a SIGKILLed driver for a minute or more (Ray 2.60: both still running 36 s after
the kill, stuck reporting the raylet's death to the dead GCS server).

:func:`watch_local_cluster` wraps the ``ray.init`` call that starts a new local cluster and starts this module as a
small process (in a session of its own, so a terminal's signals leave it alone) that reads a pipe whose only writer
is the driver (the descriptor is closed on ``exec``, and a child forked by the driver drops its copy). When the driver ends (normal exit, exception, or any signal, SIGKILL included) the kernel closes the
pipe; the watchdog reads end-of-file and ends every member of the cluster (SIGTERM, then SIGKILL after
:data:`GRACE_SECONDS`), sweeping until none is left, then exits. A member is a process of the same user that

- carries the cluster's mark: while ``ray.init`` runs, the driver's environment holds ``ACT_BENCH_RAY_WATCH=<random
  token>``, which every process Ray starts inherits (the raylet passes it on to the agents and workers); or
- belongs to the driver's session (``setsid`` sense) and holds a file open in the cluster's session directory (its
  logs). This finds the agents, whose ``/proc/<pid>/environ`` Ray's ``setproctitle`` overwrites in part. The
  watchdog reads the session directory off a marked process (the GCS server's logs) while the cluster starts.

The driver's own ``/proc/<pid>/environ`` is fixed at its ``exec`` and never shows the mark. A process is signalled
through a pidfd opened *before* its membership is checked again, so a recycled process id is never hit. A cluster the
user connected to (``address=``) has no member: it is never torn down.

Linux only (it reads ``/proc``); elsewhere :func:`watch_local_cluster` does nothing and Ray's own clean-up is all
there is. The module imports only the standard library: the watchdog runs it as a script (``python -I <this file>``).

Examples
--------
>>> import ray  # doctest: +SKIP
>>> with watch_local_cluster():  # doctest: +SKIP
...     ray.init(num_cpus=2, include_dashboard=False)
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV_VARIABLE", "GRACE_SECONDS", "SWEEP_SECONDS", "Cluster", "find_session_dir", "reap",
           "watch_local_cluster"]

#: The environment variable whose value (a random token per cluster) marks the processes of a watched cluster.
ENV_VARIABLE = "ACT_BENCH_RAY_WATCH"
#: Seconds a member gets between SIGTERM and SIGKILL.
GRACE_SECONDS = 1.0
#: Seconds the watchdog keeps sweeping for members after the driver died (then it gives up and exits).
SWEEP_SECONDS = 30.0
#: Seconds between two looks for the session directory while the cluster starts.
DISCOVERY_SECONDS = 0.2
#: What the driver writes to the watchdog once ``ray.init`` returned (the last look for the session directory).
READY = b"ready\n"

_PROC = Path("/proc")
_SESSION_DIR = re.compile(r"^(/.*/session_[^/]+)/logs/")
#: Watchdogs started by this process (kept referenced: closing a pipe is what fires a watchdog).
_watchdogs: list[subprocess.Popen] = []
#: Released watchdogs that were still sweeping when :func:`_release` stopped waiting.
_released: list[subprocess.Popen] = []
#: Watchdogs of the parent of a forked process (kept referenced only).
_inherited: list[subprocess.Popen] = []
_RELEASE_WAIT_SECONDS = 5 * GRACE_SECONDS


@dataclass(frozen=True)
class Cluster:
    """How to recognise the processes of one watched cluster.

    Attributes
    ----------
    token : str
        The value of :data:`ENV_VARIABLE` in the environment of the cluster's processes.
    session : int
        The session id of the driver (its processes that lost their mark are found in this session only).
    session_dir : str or None
        Ray's session directory of the cluster (``.../session_<date>_<pid>``), ``None`` while unknown.
    """

    token: str
    session: int
    session_dir: str | None = None

    @property
    def mark(self) -> bytes:
        return _mark(self.token)

    def is_member(self, pid: int) -> bool:
        """Whether ``pid`` is a live process of this cluster (of this user; a zombie is not)."""
        base = _PROC / str(pid)
        try:
            if base.stat().st_uid != os.getuid():
                return False
            stat = (base / "stat").read_text()
        except OSError:  # ended meanwhile
            return False
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] in "ZX":
            return False
        if self.mark in _read(base / "environ").split(b"\0"):
            return True
        if self.session_dir is None or int(fields[3]) != self.session:
            return False
        inside = self.session_dir + "/"
        return any(link.startswith(inside) for link in _open_files(pid))

    def members(self, *, exclude: frozenset[int] = frozenset()) -> list[int]:
        """Process ids of the live members of this cluster, ``exclude`` left out."""
        return sorted(pid for pid in _pids() if pid not in exclude and self.is_member(pid))


def _mark(token: str) -> bytes:
    return f"{ENV_VARIABLE}={token}".encode()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # ended, or not ours to read
        return b""


def _pids() -> list[int]:
    return [int(entry.name) for entry in _PROC.iterdir() if entry.name.isdigit()]


def _open_files(pid: int) -> list[str]:
    links = []
    with contextlib.suppress(OSError):
        for fd in (_PROC / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                links.append(os.readlink(fd))
    return links


def find_session_dir(token: str, *, exclude: frozenset[int] = frozenset()) -> str | None:
    """Ray's session directory, read off the open log files of a process marked with ``token`` (``None``: none yet)."""
    mark = _mark(token)
    for pid in _pids():
        if pid in exclude or mark not in _read(_PROC / str(pid) / "environ").split(b"\0"):
            continue
        for link in _open_files(pid):
            if (found := _SESSION_DIR.match(link)) is not None:
                return found.group(1)
    return None


def _signal(cluster: Cluster, pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to ``pid`` if it still is a member (pidfd opened first, so a recycled pid is never hit)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfd (old kernel or Python): the check-then-kill window is microseconds
        fd = None
    try:
        if cluster.is_member(pid):
            if fd is None:
                os.kill(pid, sig)
            else:
                signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        pass
    finally:
        if fd is not None:
            os.close(fd)


def reap(cluster: Cluster, *, exclude: frozenset[int] = frozenset(),
         sweep_seconds: float = SWEEP_SECONDS) -> list[int]:
    """End every member of ``cluster``: SIGTERM, SIGKILL after :data:`GRACE_SECONDS`; return the pids signalled.

    Sweeps until no member is left (one started meanwhile is found by the next sweep) or ``sweep_seconds`` passed.
    """
    terminated: dict[int, float] = {}
    deadline = time.monotonic() + sweep_seconds
    while (found := cluster.members(exclude=exclude)) and time.monotonic() < deadline:
        now = time.monotonic()
        for pid in found:
            if pid not in terminated:
                terminated[pid] = now
                _signal(cluster, pid, signal.SIGTERM)
            elif now - terminated[pid] >= GRACE_SECONDS:
                _signal(cluster, pid, signal.SIGKILL)
        time.sleep(0.05)
    return sorted(terminated)


@contextlib.contextmanager
def watch_local_cluster() -> Iterator[str | None]:
    """Wrap the ``ray.init`` call that starts a new local Ray cluster, so that its processes end with this process.

    Yields the cluster's token (``None`` where unsupported: not Linux). If the body raises, the watchdog sweeps at
    once (a half-started cluster is cleaned up) and the exception propagates. Watchdogs of earlier clusters of this
    process are released first: Ray must not be initialised when this is entered, so their clusters were shut down,
    and they end whatever of them is left.

    Examples
    --------
    >>> import ray  # doctest: +SKIP
    >>> with watch_local_cluster() as token:  # doctest: +SKIP
    ...     ray.init(num_cpus=2)
    """
    if not (sys.platform.startswith("linux") and (_PROC / "self" / "fd").is_dir()):
        yield None
        return
    while _watchdogs:
        _release(_watchdogs.pop())
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != ENV_VARIABLE}
    watchdog = subprocess.Popen(
        [sys.executable, "-I", str(Path(__file__).resolve()), token, str(os.getpid()), str(os.getsid(0))],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd="/",
        close_fds=True, start_new_session=True)
    _watchdogs.append(watchdog)
    previous = os.environ.get(ENV_VARIABLE)
    os.environ[ENV_VARIABLE] = token
    try:
        yield token
    except BaseException:
        _watchdogs.remove(watchdog)
        _release(watchdog)
        raise
    else:
        with contextlib.suppress(OSError):  # a watchdog that died cannot be told
            watchdog.stdin.write(READY)
            watchdog.stdin.flush()
    finally:
        if previous is None:
            os.environ.pop(ENV_VARIABLE, None)
        else:
            os.environ[ENV_VARIABLE] = previous


def _release(watchdog: subprocess.Popen) -> None:
    """Close the pipe to ``watchdog`` and wait (a few seconds at most) while it ends what is left of its cluster."""
    with contextlib.suppress(OSError):
        watchdog.stdin.close()
    try:
        watchdog.wait(timeout=_RELEASE_WAIT_SECONDS)
    except subprocess.TimeoutExpired:  # still sweeping: keep it referenced, it exits on its own
        _released.append(watchdog)


def _drop_pipes_in_child() -> None:
    """After a ``fork``: point the child's copies of the pipes' write ends at ``/dev/null``.

    Only the driver may hold a pipe open: a forked child that outlived a killed driver would otherwise keep the
    watchdog waiting. ``dup2`` keeps the file objects valid (their descriptor now names ``/dev/null``).
    """
    for watchdog in _watchdogs + _released:
        if watchdog.stdin is not None and not watchdog.stdin.closed:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, watchdog.stdin.fileno())
            os.close(null)
    _inherited.extend(_watchdogs + _released)  # not this process's children: never released or waited for here
    _watchdogs.clear()
    _released.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_pipes_in_child)


def _main(argv: list[str]) -> None:
    """``<token> <driver pid> <driver session>``: until end-of-file on stdin (the driver is gone) learn the session
    directory; then reap the cluster."""
    token, driver, session = argv[0], int(argv[1]), int(argv[2])
    for sig in (signal.SIGINT, signal.SIGHUP):  # a terminal's signals are the driver's business, not the watchdog's
        signal.signal(sig, signal.SIG_IGN)
    exclude = frozenset({os.getpid(), driver})
    session_dir, ready = None, False
    while True:
        looking = session_dir is None and not ready
        readable, _, _ = select.select([0], [], [], DISCOVERY_SECONDS if looking else None)
        if readable:
            data = os.read(0, 4096)
            if not data:
                break
            ready = ready or READY in data
        if session_dir is None:
            session_dir = find_session_dir(token, exclude=exclude)
    if session_dir is None:  # the driver died while Ray was starting: a last look (marked processes may remain)
        session_dir = find_session_dir(token, exclude=exclude)
    reap(Cluster(token, session, session_dir), exclude=exclude)


if __name__ == "__main__":
    _main(sys.argv[1:])
