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
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from act_bench.errors import InvalidInputError, OptionalDependencyError

__all__ = ["Executor", "JobError", "LocalExecutor", "RayExecutor", "create_executor", "list_executors"]


class JobError(Exception):
    """A job raised; ``message`` holds its exception type and text (the driver records it)."""


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


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

    def shutdown(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _ticket(self) -> int:
        self._next += 1
        return self._next - 1


class LocalExecutor(Executor):
    """A pool of ``workers`` local processes (spawned, one torch thread each)."""

    def __init__(self, workers: int = 1, *, threads_per_worker: int = 1) -> None:
        super().__init__()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidInputError(f"parameter workers of LocalExecutor must be an integer >= 1; got {workers!r}")
        self.workers = workers
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                            initializer=_init_worker, initargs=(threads_per_worker,))
        self._futures: dict[cf.Future, int] = {}

    @property
    def slots(self) -> int:
        return self.workers

    @property
    def pending(self) -> int:
        return len(self._futures)

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
    """Ray tasks, one per job (``num_cpus=1``, ``num_gpus`` from the job). Connects to ``address`` or starts Ray."""

    def __init__(self, *, address: str | None = None, num_cpus: int | None = None) -> None:
        super().__init__()
        try:
            import ray
        except ImportError as exc:
            raise OptionalDependencyError("the Ray executor needs Ray: pip install 'act-bench[ray]'") from exc
        self._ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            elif num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            ray.init(**kwargs)
        self._remote = ray.remote(_ray_call)
        self._refs: dict[Any, int] = {}

    @property
    def slots(self) -> int:
        return max(1, int(self._ray.available_resources().get("CPU", 1) + len(self._refs)))

    @property
    def pending(self) -> int:
        return len(self._refs)

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
            except Exception as exc:  # a task that raised: report it, the driver records the failure
                cause = getattr(exc, "cause", None) or exc
                yield ticket, JobError(f"{type(cause).__name__}: {cause}")

    def shutdown(self) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        self._refs.clear()


def _ray_call(fn: Callable[..., Any], *args: Any) -> Any:
    _init_worker(1)
    return fn(*args)


_EXECUTORS = {"local": LocalExecutor, "ray": RayExecutor}


def list_executors() -> list[str]:
    return list(_EXECUTORS)


def create_executor(name: str, *, workers: int = 1, address: str | None = None) -> Executor:
    """``local`` (``workers`` processes) or ``ray`` (``address`` of a cluster, else a local one with ``workers`` CPUs)."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address=address, num_cpus=None if address else workers)
    raise InvalidInputError(f"parameter executor must be one of {', '.join(_EXECUTORS)}; got {name!r}")
