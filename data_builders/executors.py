"""Executors: where jobs run (local processes or Ray tasks). Shared by the table builder and the live search.

An executor runs picklable module-level functions on plain-dict arguments and hands back results as they finish;
the driver (builder or live search) keeps all bookkeeping, so an executor never writes to a journal.

Examples
--------
>>> from data_builders.executors import create_executor
>>> with create_executor("local", workers=1) as ex:
...     ticket = ex.submit(pow, 2, 10)
...     [(t, r) for t, r in ex.wait()]
[(0, 1024)]
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from act_bench.errors import InvalidInputError, OptionalDependencyError
from act_bench.utils import watch_local_cluster

__all__ = ["Executor", "JobError", "LocalExecutor", "RayExecutor", "check_gpus_per_run", "create_executor",
           "list_executors"]


class JobError(Exception):
    """A job raised; ``message`` holds its exception type and text (the driver records it)."""


#: Seconds between two checks of a local worker that its driver is still alive.
PARENT_CHECK_SECONDS = 0.5


def _init_worker(threads: int, parent: int | None = None) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if parent is not None:
        _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    """End this worker process as soon as ``parent`` (the driver that spawned it) is gone, whatever killed it.

    A daemon thread compares ``os.getppid()`` with the driver's pid every :data:`PARENT_CHECK_SECONDS`: an orphan
    is re-parented (to init or a subreaper), so a SIGKILLed driver leaves no worker training on. Unlike a Linux
    parent-death signal this does not fire when merely the thread that spawned the worker ends (a process pool
    spawns workers from whichever thread submits), and it works on every POSIX system.
    """
    if os.getppid() != parent:  # the driver died before this worker started
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                os._exit(1)  # no cleanup: the job's result has nowhere to go

    threading.Thread(target=watch, name="act-bench-parent-watch", daemon=True).start()


class Executor(ABC):
    """Runs jobs; ``submit`` returns a ticket (int), ``wait`` yields ``(ticket, result_or_JobError)`` as they finish."""

    def __init__(self) -> None:
        self._next = 0

    @property
    @abstractmethod
    def slots(self) -> int:
        """How many jobs should be in flight at once."""

    @abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any, gpus: float = 0) -> int: ...

    @abstractmethod
    def wait(self, timeout: float | None = None) -> Iterator[tuple[int, Any]]:
        """Yield at least one finished job (or none after ``timeout`` seconds)."""

    @property
    @abstractmethod
    def pending(self) -> int: ...

    @property
    @abstractmethod
    def gpus(self) -> float:
        """GPUs the executor can hand to jobs (local: the GPUs torch sees; Ray: the cluster's ``GPU`` resource)."""

    def shutdown(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self) -> Executor:  # noqa: PYI034 - subclasses add no state that needs Self
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _ticket(self) -> int:
        self._next += 1
        return self._next - 1


class LocalExecutor(Executor):
    """A pool of ``workers`` local processes (spawned, one torch thread each).

    A worker ends within about a second when the process that created the executor dies by any signal (SIGKILL
    included), so a killed driver leaves no orphan training on.
    """

    def __init__(self, workers: int = 1, *, threads_per_worker: int = 1) -> None:
        super().__init__()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidInputError(f"parameter workers of LocalExecutor must be an integer >= 1; got {workers!r}")
        self.workers = workers
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                            initializer=_init_worker, initargs=(threads_per_worker, os.getpid()))
        self._futures: dict[cf.Future, int] = {}

    @property
    def slots(self) -> int:
        return self.workers

    @property
    def pending(self) -> int:
        return len(self._futures)

    @property
    def gpus(self) -> float:
        import torch

        return float(torch.cuda.device_count()) if torch.cuda.is_available() else 0.0

    def submit(self, fn: Callable[..., Any], *args: Any, gpus: float = 0) -> int:
        ticket = self._ticket()
        self._futures[self._pool.submit(fn, *args)] = ticket
        return ticket

    def wait(self, timeout: float | None = None) -> Iterator[tuple[int, Any]]:
        if not self._futures:
            return
        done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        for fut in done:
            ticket = self._futures.pop(fut)
            exc = fut.exception()
            yield ticket, (JobError(f"{type(exc).__name__}: {exc}") if exc is not None else fut.result())

    def shutdown(self) -> None:
        for fut in self._futures:
            fut.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor(Executor):
    """Ray tasks, one per job (``num_cpus=1``, ``num_gpus`` from the job). Connects to ``address`` or starts Ray.

    A local Ray started here is watched (:func:`act_bench.utils.watch_local_cluster`): when this process
    dies by any signal, SIGKILL included, every process of that cluster (raylet, GCS, agents, workers) ends within
    a few seconds. A cluster at ``address`` is only connected to and outlives this process.

    A fractional ``gpus`` per job (e.g. 0.25) lets Ray pack several jobs on one GPU; Ray sets each task's
    ``CUDA_VISIBLE_DEVICES`` to its GPU, so the run's ``cuda`` device is that GPU. ``num_cpus``/``num_gpus`` size
    a local Ray instance (default: what Ray detects).
    """

    def __init__(self, *, address: str | None = None, num_cpus: int | None = None,
                 num_gpus: float | None = None) -> None:
        super().__init__()
        try:
            import ray
        except ImportError as exc:
            raise OptionalDependencyError("the Ray executor needs Ray: pip install 'act-bench[ray]'") from exc
        self._ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:  # the user's cluster: connect only, never tear it down
                kwargs["address"] = address
                ray.init(**kwargs)
            else:
                if num_cpus is not None:
                    kwargs["num_cpus"] = num_cpus
                if num_gpus is not None:
                    kwargs["num_gpus"] = num_gpus
                with watch_local_cluster():  # its processes end within seconds of this one, whatever kills it
                    ray.init(**kwargs)
        self._remote = ray.remote(_ray_call)
        self._refs: dict[Any, int] = {}

    @property
    def slots(self) -> int:
        return max(1, int(self._ray.available_resources().get("CPU", 1) + len(self._refs)))

    @property
    def pending(self) -> int:
        return len(self._refs)

    @property
    def gpus(self) -> float:
        return float(self._ray.cluster_resources().get("GPU", 0.0))

    def submit(self, fn: Callable[..., Any], *args: Any, gpus: float = 0) -> int:
        ticket = self._ticket()
        ref = self._remote.options(num_cpus=1, num_gpus=gpus).remote(fn, *args)
        self._refs[ref] = ticket
        return ticket

    def wait(self, timeout: float | None = None) -> Iterator[tuple[int, Any]]:
        if not self._refs:
            return
        done, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        for ref in done:
            ticket = self._refs.pop(ref)
            try:
                yield ticket, self._ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a task that raised: report it, the driver records the failure
                cause = getattr(exc, "cause", None) or exc
                yield ticket, JobError(f"{type(cause).__name__}: {cause}")

    def shutdown(self) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        self._refs.clear()


def _ray_call(fn: Callable[..., Any], *args: Any) -> Any:
    _init_worker(1)
    return fn(*args)


def check_gpus_per_run(gpus: Any, available: float, *, where: str = "gpus_per_run") -> float:
    """Validate GPUs per run against the GPUs an executor has: 0 (CPU), or ``0 < gpus <= available``.

    Examples
    --------
    >>> check_gpus_per_run(0.25, 1.0)
    0.25
    >>> check_gpus_per_run(2, 1.0)
    Traceback (most recent call last):
    ...
    act_bench.errors.InvalidInputError: gpus_per_run must be 0 (CPU) or in (0, 1] (the GPUs of this executor); got 2
    """
    if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or not gpus >= 0:
        raise InvalidInputError(f"{where} must be a number >= 0; got {gpus!r}")
    if gpus == 0:
        return 0.0
    if available <= 0:
        raise InvalidInputError(f"{where} is {gpus!r} but this executor sees no GPU; use 0 (CPU) or run where a GPU "
                                f"is visible (Ray: a cluster with GPU resources)")
    if gpus > available:
        raise InvalidInputError(f"{where} must be 0 (CPU) or in (0, {available:g}] (the GPUs of this executor); "
                                f"got {gpus!r}")
    return float(gpus)


_EXECUTORS = {"local": LocalExecutor, "ray": RayExecutor}


def list_executors() -> list[str]:
    return list(_EXECUTORS)


def create_executor(name: str, *, workers: int = 1, address: str | None = None,
                    num_gpus: float | None = None) -> Executor:
    """``local`` (``workers`` processes) or ``ray`` (``address`` of a cluster, else a local one with ``workers`` CPUs
    and ``num_gpus`` GPUs, default: the GPUs Ray detects)."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address=address, num_cpus=None if address else workers,
                           num_gpus=None if address else num_gpus)
    raise InvalidInputError(f"parameter executor must be one of {', '.join(_EXECUTORS)}; got {name!r}")
