"""The job engine: one runner and one journal for table builds and live searches.

A build is a search whose searcher proposes a fixed list (the FIM job and the seeds of every function); a live search
proposes what its searcher asks for. Both hand their jobs to a :class:`JobRunner`, which claims each job in the
SQLite :class:`Journal`, runs it on an executor (local processes or Ray), records its heartbeats, retries failures a
bounded number of times (the error of every attempt kept), reclaims the job of a worker that died, and stores each
outcome exactly once. One driver holds a journal at a time (:class:`JournalLock`; a second is refused with a one-line
"busy" error). See ``docs/builders.md`` and ``docs/live.md``.

Examples
--------
>>> from act_bench.engine import build_table
>>> from data_builders.recipes import get_recipe
>>> table = build_table(get_recipe("act-bench-mnist1d"), "my-table", limit=10, workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

from act_bench.engine._assemble import (
    HISTOGRAM_FILE,
    assemble_build,
    code_metadata,
    effort,
    layout_metadata,
    write_accuracy_histogram,
)
from act_bench.engine._build import (
    JOURNAL_FILE,
    BuildResult,
    build_table,
    journal_dir_for,
    journal_path_for,
    run_build,
)
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
from act_bench.engine._extend import (
    CONTENDER_FRACTION,
    ExtensionReport,
    contender_functions,
    extend_build,
    relabel_runs,
)
from act_bench.engine._journal import Journal
from act_bench.engine._legacy import LEGACY_FILE, LegacyJournal, convert_jsonl
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
from act_bench.engine._store import SCHEMA_VERSION, Claim, Job, JobKind, JournalRun
from act_bench.errors import JournalBusyError

__all__ = [
    "CONTENDER_FRACTION",
    "FEATURE_JOB_FAILED",
    "HEARTBEAT_JOURNAL_SECONDS",
    "HEARTBEAT_SECONDS",
    "HISTOGRAM_FILE",
    "JOURNAL_FILE",
    "LEGACY_FILE",
    "SCHEMA_VERSION",
    "BuildResult",
    "Claim",
    "Executor",
    "ExtensionReport",
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
    "LegacyJournal",
    "LocalExecutor",
    "Proposer",
    "RayExecutor",
    "StopFlag",
    "WorkerLost",
    "assemble_build",
    "build_table",
    "check_gpus_per_run",
    "code_metadata",
    "contender_functions",
    "convert_jsonl",
    "create_executor",
    "effort",
    "extend_build",
    "journal_dir_for",
    "journal_path_for",
    "layout_metadata",
    "list_executors",
    "relabel_runs",
    "run_build",
    "write_accuracy_histogram",
]
