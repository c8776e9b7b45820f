"""The executor interface of the job engine (what a runner needs from "where jobs run") and the worker-side
helpers every executor shares: one torch thread, and an exit as soon as the driver is gone."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from act_bench.errors import InvalidInputError
from act_bench.utils import PARENT_CHECK_SECONDS, exit_with_parent

__all__ = ["HEARTBEAT_SECONDS", "PARENT_CHECK_SECONDS", "Executor", "JobError", "WorkerLost", "check_gpus_per_run",
           "init_worker"]


class JobError(Exception):
    """A job raised; ``message`` holds its exception type and text (the runner records it)."""


class WorkerLost(JobError):
    """The worker running a job died (any signal) or stopped sending heartbeats; the job did not finish."""


#: Seconds between two heartbeats of a local worker running a job.
HEARTBEAT_SECONDS = 1.0


def init_worker(threads: int, parent: int | None = None) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if parent is not None:
        exit_with_parent(parent)  # every system; covers the start-up race


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
        """Yield the jobs that finished (at least one, or none after ``timeout`` seconds)."""

    @property
    @abstractmethod
    def pending(self) -> int: ...

    @property
    @abstractmethod
    def gpus(self) -> float:
        """GPUs the executor can hand to jobs (local: the GPUs torch sees; Ray: the cluster's ``GPU`` resource)."""

    def alive(self) -> dict[int, tuple[str, float]]:
        """``{ticket: (worker, time of its last heartbeat)}`` of the jobs in flight (default: all pending, now)."""
        return {}

    def shutdown(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self) -> Executor:  # noqa: PYI034 - subclasses add no state that needs Self
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _ticket(self) -> int:
        self._next += 1
        return self._next - 1


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
