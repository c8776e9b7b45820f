"""The local executor: worker processes on this machine, one job at a time each, beating while they work."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from act_bench.engine._executor import HEARTBEAT_SECONDS, Executor, JobError, WorkerLost, init_worker
from act_bench.errors import InvalidInputError
from act_bench.utils import children_ignore, die_with_spawning_thread, worker_signals

__all__ = ["LocalExecutor"]


#: The signals of a stop: the driver handles them, its workers ignore them.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _worker_main(conn: Connection, threads: int, parent: int) -> None:
    """A local worker: run the jobs the driver sends, beating every :data:`HEARTBEAT_SECONDS` while one runs."""
    die_with_spawning_thread()  # the executor starts its workers from the thread that drives it
    # Ctrl-C, and the SIGTERM that timeout, systemd or Slurm send to the whole group, reach the workers too: the
    # driver decides (it releases the jobs in flight, then ends its workers), so a stop never reads as a failure.
    # Ignored from the worker's first instruction (children_ignore in _spawn), kept ignored here.
    worker_signals(ignore=_STOP_SIGNALS)
    init_worker(threads, parent)  # also watches the driver's pid (every system; covers the start-up race)
    send_lock = threading.Lock()
    running: list[int] = []

    def beat() -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            with send_lock:
                if running:
                    conn.send(("beat", running[0], None))

    threading.Thread(target=beat, name="act-bench-heartbeat", daemon=True).start()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        ticket, fn, args = message
        with send_lock:
            running.append(ticket)
        try:
            reply = ("done", ticket, fn(*args))
        except Exception as exc:  # noqa: BLE001 - a job that raised: reported, the runner records the failure
            reply = ("error", ticket, f"{type(exc).__name__}: {exc}")
        with send_lock:
            running.clear()
            conn.send(reply)


@dataclass
class _Worker:
    process: Any
    conn: Connection
    ticket: int | None = None
    beat: float = 0.0


class LocalExecutor(Executor):
    """``workers`` local processes (spawned, one torch thread each), each running one job at a time.

    A worker beats every :data:`HEARTBEAT_SECONDS` while it runs a job. A worker that dies (any signal, also the
    out-of-memory killer) or sends no heartbeat for ``heartbeat_timeout`` seconds (then it is killed) gives its job
    back as a :class:`WorkerLost` and is replaced, so one lost job never takes the others down. A worker ends within
    about a second when the process that created the executor dies by any signal (SIGKILL included).
    """

    def __init__(self, workers: int = 1, *, threads_per_worker: int = 1, heartbeat_timeout: float = 120.0) -> None:
        super().__init__()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidInputError(f"parameter workers of LocalExecutor must be an integer >= 1; got {workers!r}")
        if not heartbeat_timeout > HEARTBEAT_SECONDS:
            raise InvalidInputError(f"parameter heartbeat_timeout of LocalExecutor must be > {HEARTBEAT_SECONDS} "
                                    f"seconds; got {heartbeat_timeout!r}")
        self.workers, self.threads, self.heartbeat_timeout = workers, threads_per_worker, float(heartbeat_timeout)
        self._ctx = mp.get_context("spawn")
        self._pool: list[_Worker] = [self._spawn() for _ in range(workers)]
        self._queue: deque[tuple[int, Callable[..., Any], tuple[Any, ...]]] = deque()

    def _spawn(self) -> _Worker:
        ours, theirs = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, args=(theirs, self.threads, os.getpid()),
                                    name="act-bench-worker", daemon=True)
        with children_ignore(_STOP_SIGNALS):  # a stop while it imports: no traceback, the driver still sees it
            process.start()
        theirs.close()
        return _Worker(process, ours)

    @property
    def slots(self) -> int:
        return self.workers

    @property
    def pending(self) -> int:
        return len(self._queue) + sum(w.ticket is not None for w in self._pool)

    @property
    def gpus(self) -> float:
        import torch

        return float(torch.cuda.device_count()) if torch.cuda.is_available() else 0.0

    def submit(self, fn: Callable[..., Any], *args: Any, gpus: float = 0) -> int:
        ticket = self._ticket()
        self._queue.append((ticket, fn, args))
        self._dispatch()
        return ticket

    def _dispatch(self) -> None:
        for i, w in enumerate(self._pool):
            if not self._queue:
                return
            if w.ticket is None:
                if not w.process.is_alive():  # died while idle: replaced quietly (it held no job)
                    w.conn.close()
                    w = self._pool[i] = self._spawn()
                ticket, fn, args = self._queue.popleft()
                w.ticket, w.beat = ticket, time.time()
                w.conn.send((ticket, fn, args))

    def alive(self) -> dict[int, tuple[str, float]]:
        return {w.ticket: (f"pid {w.process.pid}", w.beat) for w in self._pool if w.ticket is not None}

    def wait(self, timeout: float | None = None) -> Iterator[tuple[int, Any]]:
        busy = [w for w in self._pool if w.ticket is not None]
        if not busy:
            return
        step = HEARTBEAT_SECONDS if timeout is None else min(timeout, HEARTBEAT_SECONDS)
        deadline = None if timeout is None else time.monotonic() + timeout
        finished: list[tuple[int, Any]] = []
        while not finished:
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=step))
            now = time.time()
            for w in busy:
                if w.ticket is None:
                    continue
                if w.conn in ready:
                    try:
                        kind, ticket, value = w.conn.recv()
                    except (EOFError, OSError):  # the worker died: its pipe closed
                        finished.append((w.ticket, self._replace(w, now, hung=False)))
                    else:
                        if kind == "beat":
                            w.beat = now
                        else:
                            w.ticket = None
                            finished.append((ticket, value if kind == "done" else JobError(value)))
                        continue
                elif w.process.sentinel in ready or now - w.beat > self.heartbeat_timeout:
                    finished.append((w.ticket, self._replace(w, now, hung=w.process.sentinel not in ready)))
            if deadline is not None and time.monotonic() >= deadline:
                break
        self._dispatch()
        yield from finished

    def _replace(self, w: _Worker, now: float, *, hung: bool) -> WorkerLost:
        """Kill (if hung) and replace a worker whose job is lost; the loss, described."""
        if hung:
            w.process.kill()
            reason = f"sent no heartbeat for {now - w.beat:.0f} s (killed)"
        else:
            reason = "died"
        w.process.join(5)
        if w.process.is_alive():  # its pipe closed but it lingers: it is of no use any more
            w.process.kill()
            w.process.join(5)
        code = w.process.exitcode
        if code is not None and code < 0:
            reason += f" ({signal.Signals(-code).name})"
        w.conn.close()
        self._pool[self._pool.index(w)] = self._spawn()
        return WorkerLost(f"worker process {w.process.pid} {reason}")

    def shutdown(self) -> None:
        self._queue.clear()
        for w in self._pool:
            if w.ticket is not None:  # a job in flight: its result has nowhere to go
                w.process.kill()
            else:
                try:
                    w.conn.send(None)
                except OSError:
                    w.process.kill()
        for w in self._pool:
            w.process.join(10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
