"""The job runner: one loop that dispatches jobs to an executor and journals what comes back, for builds and live
searches alike.

What the runner owns (its callers only decide *which* jobs to run):

* **claims**: a job is claimed in the journal before it is submitted, and its claim is released in the same
  transaction that stores its result, so a job is journaled exactly once;
* **heartbeats**: the executor's report of which jobs are alive (:meth:`Executor.alive`) is written to their claims
  every :data:`HEARTBEAT_JOURNAL_SECONDS`; a job whose worker died or stopped beating comes back as a
  :class:`~act_bench.engine.WorkerLost` and is reclaimed (run again);
* **bounded retries**: a job that raised (or lost its worker) is retried up to ``retries`` times; the error of every
  attempt is kept in the journal's ``failures``; after the last one a run is recorded ``failed`` (NaN metrics) and a
  FIM job as invalid features;
* **stopping**: SIGTERM/SIGINT (:class:`StopFlag`) stop new submissions; what finished is kept, and a stop is
  never a failure: a job whose worker the stop took down is released (no failed attempt, no final record), so a
  resumed driver trains it again;
* **retrying final failures**: ``retried`` gives jobs whose failure was final (and then dropped from the journal by
  the driver, e.g. ``build --retry-failed``) a fresh budget of ``retries``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from act_bench.engine._executors import Executor, JobError, WorkerLost
from act_bench.engine._journal import Journal
from act_bench.engine._store import Job, JobKind
from act_bench.tables import RunRecord, RunStatus

__all__ = ["FEATURE_JOB_FAILED", "HEARTBEAT_JOURNAL_SECONDS", "Finished", "FixedList", "JobRunner", "Proposer",
           "StopFlag"]

#: Seconds between two writes of the workers' heartbeats to the journal's claims.
HEARTBEAT_JOURNAL_SECONDS = 5.0
#: How the ``fim_reason`` of a FIM job whose failure is final begins (its features are stored as invalid).
FEATURE_JOB_FAILED = "feature job failed"


class StopFlag:
    """Context manager: while active, the given signals set :attr:`flag` instead of ending the process."""

    def __init__(self, signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.flag = False
        self._signals = tuple(signals)
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:  # noqa: PYI034 - no subclasses
        if threading.current_thread() is threading.main_thread():
            for s in self._signals:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.flag = True

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


@dataclass(frozen=True)
class Finished:
    """A job with its final outcome, as journaled: ``run`` (a run's record and ``seq``) or ``features``."""

    job: Job
    attempts: int
    run: RunRecord | None = None
    seq: int | None = None
    features: dict[str, Any] | None = None


class JobRunner:
    """Dispatch jobs to ``executor`` and journal their outcomes in ``journal`` (held by this driver).

    Parameters
    ----------
    journal : Journal
    executor : Executor
    session : str
        The journal session of this driver.
    entry_points : dict
        ``{JobKind: fn}``: module-level worker functions, called as ``fn({**payload, "function", "seed"})``; a run
        returns a :class:`~act_bench.tables.RunRecord` dict, a FIM job a features dict.
    payload : dict
        What every job gets (the recipe dict, a user's task or network).
    retries : int
        Retries of a failed job before its failure is final.
    gpus : float
        GPUs per run (FIM jobs run without).
    stop : StopFlag
    on_retry : callable, optional
        ``on_retry(job, attempt, error)`` before a failed job is retried (progress messages).
    retried : dict, optional
        ``{job key: failed attempts}`` of jobs whose failure was final and that run again: they get ``retries``
        retries beyond the attempts they already used.
    """

    def __init__(self, journal: Journal, executor: Executor, session: str, *, entry_points: dict[JobKind, Callable],
                 payload: dict[str, Any], retries: int, gpus: float, stop: StopFlag,
                 on_retry: Callable[[Job, int, str], None] | None = None,
                 retried: dict[str, int] | None = None) -> None:
        self.journal, self.executor, self.session, self.stop = journal, executor, session, stop
        self.entry_points, self.payload, self.retries, self.gpus = entry_points, payload, retries, gpus
        self.on_retry = on_retry
        self._used = dict(retried or {})  # attempts a job used before its failure was made retryable again
        self.tickets: dict[int, tuple[Job, int]] = {}
        self._ready: list[Finished] = []
        self._beat_written = time.monotonic()

    @property
    def slots(self) -> int:
        return self.executor.slots

    def busy(self, kind: JobKind | None = None) -> int:
        """Jobs in flight (of ``kind``), counting those finished but not yet collected by :meth:`poll`."""
        jobs = [job for job, _ in self.tickets.values()] + [f.job for f in self._ready]
        return sum(kind is None or job.kind == kind for job in jobs)

    def in_flight(self) -> list[Job]:
        return [job for job, _ in self.tickets.values()]

    def submit(self, job: Job) -> None:
        """Claim ``job`` and run it (its next attempt); a job whose retries earlier sessions used up is recorded
        as failed at once (collected by the next :meth:`poll`)."""
        attempt = self.journal.attempts(job)
        self.journal.claim(job, self.session, attempt)
        if attempt - self._used.get(job.key, 0) > self.retries:
            self._ready.append(self._final_failure(job, attempt, "retries exhausted"))
            return
        self._send(job, attempt)

    def _send(self, job: Job, attempt: int) -> None:
        args = {**self.payload, "function": job.function, "seed": job.seed}
        ticket = self.executor.submit(self.entry_points[job.kind], args,
                                      gpus=self.gpus if job.kind == JobKind.RUN else 0)
        self.tickets[ticket] = (job, attempt)

    def poll(self, timeout: float = 1.0) -> list[Finished]:
        """Wait up to ``timeout`` seconds; return the jobs that finished for good (journaled), retrying failures."""
        done, self._ready = self._ready, []
        for ticket, result in self.executor.wait(timeout=0 if done else timeout):
            job, attempt = self.tickets.pop(ticket)
            error = _error_of(job, result)
            if error is None:
                done.append(self._store(job, attempt + 1, result))
                continue
            if self.stop.flag and isinstance(result, WorkerLost):  # the stop took its worker down: not a failure
                self.journal.release(job)
                continue
            self.journal.record_failure(job, attempt, error, self.session)
            if attempt - self._used.get(job.key, 0) < self.retries and not self.stop.flag:
                if self.on_retry is not None:
                    self.on_retry(job, attempt, error)
                self._send(job, attempt + 1)
            else:
                done.append(self._final_failure(job, attempt + 1, error))
        if time.monotonic() - self._beat_written >= HEARTBEAT_JOURNAL_SECONDS:
            self._write_heartbeats()
        return done

    def _write_heartbeats(self) -> None:
        alive = self.executor.alive()
        beats = {self.tickets[t][0].key: v for t, v in alive.items() if t in self.tickets}
        self.journal.heartbeat(beats, self.session)
        self._beat_written = time.monotonic()

    def _store(self, job: Job, attempts: int, result: dict[str, Any]) -> Finished:
        if job.kind == JobKind.FIM:
            self.journal.add_features(job.row, result, self.session)
            return Finished(job, attempts, features=result)
        record = RunRecord.from_dict({**result, "function": job.function, "seed": job.seed},
                                     where=f"result of job {job.key}")
        seq = self.journal.add_result(job.row, record, attempts=attempts, session=self.session)
        return Finished(job, attempts, run=record, seq=seq)

    def _final_failure(self, job: Job, attempts: int, error: str) -> Finished:
        if job.kind == JobKind.FIM:
            return self._store(job, attempts, {"fim_valid": False, "fim_reason": f"{FEATURE_JOB_FAILED}: {error}",
                                               "fim_cdf": None, "seconds": 0.0})
        record = RunRecord.failed(job.function, int(job.seed), error)
        seq = self.journal.add_result(job.row, record, attempts=attempts, session=self.session)
        return Finished(job, attempts, run=record, seq=seq)

    def release_unfinished(self) -> None:
        """Drop the claims of the jobs still in flight (the driver stops without waiting for them)."""
        for job, _ in self.tickets.values():
            self.journal.release(job)
        self.tickets.clear()

    def drive(self, proposer: Proposer) -> Iterator[Finished]:
        """Run what ``proposer`` asks for, as slots free up, until it has nothing left or a stop is requested;
        yields every finished job (already journaled) and tells the proposer."""
        while not self.stop.flag:
            free = self.slots - self.busy()
            jobs = proposer.ask(free) if free > 0 else []
            for job in jobs:
                self.submit(job)
            if not self.tickets and not self._ready:
                return
            for finished in self.poll(1.0):
                proposer.tell(finished)
                yield finished


class Proposer(Protocol):
    """What to run next: ``ask(n)`` returns up to ``n`` jobs (none when nothing is left); ``tell`` hears outcomes."""

    def ask(self, n: int) -> list[Job]: ...

    def tell(self, finished: Finished) -> None: ...


class FixedList:
    """The searcher of a build: proposes a fixed list of jobs in order (FIM job and seeds of every function).

    Examples
    --------
    >>> p = FixedList([Job(JobKind.FIM, 0, "relu(x)"), Job(JobKind.RUN, 0, "relu(x)", 0)])
    >>> [j.key for j in p.ask(5)], p.ask(5)
    (['fim:0', 'run:0:0'], [])
    """

    def __init__(self, jobs: Iterable[Job]) -> None:
        self._queue = deque(jobs)

    def __len__(self) -> int:
        return len(self._queue)

    def ask(self, n: int) -> list[Job]:
        return [self._queue.popleft() for _ in range(min(n, len(self._queue)))]

    def tell(self, finished: Finished) -> None:
        pass


def _error_of(job: Job, result: Any) -> str | None:
    if isinstance(result, JobError):
        return str(result)
    if job.kind == JobKind.RUN and result.get("status") == RunStatus.FAILED.value:
        return result.get("error") or "run failed"
    return None
