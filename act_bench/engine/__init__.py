"""The job engine: jobs, journals, executors and locks, shared by table builds and live searches.

A driver hands its jobs to a :class:`JobRunner`, which claims each job in the SQLite :class:`Journal`, runs it on an
executor (local processes or Ray), records its heartbeats, retries failures a bounded number of times (the error of
every attempt kept), reclaims the job of a worker that died, and stores each outcome exactly once. One driver holds a
journal at a time (:class:`JournalLock`; a second is refused with a one-line "busy" error).

The engine knows nothing of what a job trains: the build driver, its assembler from a journal to a table and the
contender extension live with the builders (:mod:`data_builders.build`), the live-search driver in
:mod:`act_bench.live`. See ``docs/builders.md`` and ``docs/live.md``.

Examples
--------
>>> from act_bench.engine import FixedList, Job, JobKind
>>> [j.key for j in FixedList([Job(JobKind.FIM, 0, "relu(x)"), Job(JobKind.RUN, 0, "relu(x)", 0)]).ask(5)]
['fim:0', 'run:0:0']
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from act_bench.engine._executors import (
    HEARTBEAT_SECONDS,
    Executor,
    JobError,
    LocalExecutor,
    RayExecutor,
    WorkerLost,
    check_gpus_per_run,
    create_executor,
    list_executors,
)
from act_bench.engine._journal import Journal
from act_bench.engine._lock import JournalLock
from act_bench.engine._runner import (
    FEATURE_JOB_FAILED,
    HEARTBEAT_JOURNAL_SECONDS,
    Finished,
    FixedList,
    JobRunner,
    Proposer,
    StopFlag,
)
from act_bench.engine._store import (
    SCHEMA_VERSION,
    Claim,
    Job,
    JobKind,
    JournalRun,
    dumps,
    insert_features,
    insert_result,
    remove_sqlite,
)
from act_bench.errors import JournalBusyError

__all__ = [
    "FEATURE_JOB_FAILED",
    "HEARTBEAT_JOURNAL_SECONDS",
    "HEARTBEAT_SECONDS",
    "SCHEMA_VERSION",
    "Claim",
    "Executor",
    "Finished",
    "FixedList",
    "Job",
    "JobError",
    "JobKind",
    "JobRunner",
    "Journal",
    "JournalBusyError",
    "JournalLock",
    "JournalRun",
    "LocalExecutor",
    "Proposer",
    "RayExecutor",
    "StopFlag",
    "WorkerLost",
    "check_gpus_per_run",
    "create_executor",
    "dumps",
    "insert_features",
    "insert_result",
    "list_executors",
    "remove_sqlite",
]

#: Names this package exported before the build driver moved to the builders: deprecated aliases for one release.
_MOVED_TO_BUILDERS = (
    "CONTENDER_FRACTION", "HISTOGRAM_FILE", "JOURNAL_FILE", "LEGACY_FILE", "BuildResult", "ExtensionReport",
    "LegacyJournal", "assemble_build", "build_table", "code_metadata", "contender_functions", "convert_jsonl",
    "effort", "extend_build", "journal_dir_for", "journal_path_for", "layout_metadata", "relabel_runs", "run_build",
    "write_accuracy_histogram",
)


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_BUILDERS:
        warnings.warn(f"act_bench.engine.{name} moved to data_builders.build.{name}; the old name is deprecated and "
                      f"will be removed in the next release", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("data_builders.build"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
