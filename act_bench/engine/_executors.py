"""Executors: where jobs run (local processes or Ray tasks), for builds and live searches alike.

An executor runs picklable module-level functions on plain-dict arguments and hands back results as they finish;
the job runner (:mod:`act_bench.engine._runner`) keeps all bookkeeping, so an executor never writes to a journal.
Besides results it reports which jobs are alive (:meth:`Executor.alive`: the heartbeats the runner journals) and a
job whose worker died or stopped beating (:class:`WorkerLost`), which the runner reclaims.

Examples
--------
>>> from act_bench.engine import create_executor
>>> with create_executor("local", workers=1) as ex:
...     ticket = ex.submit(pow, 2, 10)
...     [(t, r) for t, r in ex.wait(timeout=60)]
[(0, 1024)]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from act_bench.engine._executor import (
    HEARTBEAT_SECONDS,
    Executor,
    JobError,
    WorkerLost,
    check_gpus_per_run,
    init_worker,
)
from act_bench.engine._local import LocalExecutor
from act_bench.errors import InvalidInputError, OptionalDependencyError
from act_bench.utils import watch_local_cluster

__all__ = ["HEARTBEAT_SECONDS", "Executor", "JobError", "LocalExecutor", "RayExecutor", "WorkerLost",
           "check_gpus_per_run", "create_executor", "list_executors"]


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

    def alive(self) -> dict[int, tuple[str, float]]:
        now = time.time()  # Ray itself reports lost workers and nodes: a task it still holds is alive
        return {ticket: ("ray", now) for ticket in self._refs.values()}

    def shutdown(self) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        self._refs.clear()


def _ray_call(fn: Callable[..., Any], *args: Any) -> Any:
    init_worker(1)
    return fn(*args)


_EXECUTORS = {"local": LocalExecutor, "ray": RayExecutor}


def list_executors() -> list[str]:
    return list(_EXECUTORS)


def create_executor(name: str, *, workers: int = 1, address: str | None = None, num_gpus: float | None = None,
                    heartbeat_timeout: float = 120.0) -> Executor:
    """``local`` (``workers`` processes) or ``ray`` (``address`` of a cluster, else a local one with ``workers`` CPUs
    and ``num_gpus`` GPUs, default: the GPUs Ray detects)."""
    if name == "local":
        return LocalExecutor(workers, heartbeat_timeout=heartbeat_timeout)
    if name == "ray":
        return RayExecutor(address=address, num_cpus=None if address else workers,
                           num_gpus=None if address else num_gpus)
    raise InvalidInputError(f"parameter executor must be one of {', '.join(_EXECUTORS)}; got {name!r}")
