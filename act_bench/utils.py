"""Helpers shared by act-bench's packages (``data_builders``, ``evaluation`` and the library itself): input checks
with act-bench's one message format, JSON-ready values, the machine description, exclusive lock files, progress
bars and the watchdog of a local Ray cluster (its processes end when the process that started it dies).

This is the public home of these helpers: code outside the ``act_bench`` package imports them from here, never from
the private modules that implement them.

Examples
--------
>>> from act_bench.utils import check_int, to_jsonable
>>> check_int(3, "seeds", "replay", min_value=1)
3
>>> to_jsonable({"loss": float("inf")})
{'loss': None}
"""

from __future__ import annotations

from act_bench._env import hardware
from act_bench._io import (
    atomic_write,
    atomic_write_text,
    lock_held,
    lock_note,
    refuse_symlink,
    to_jsonable,
    try_lock,
)
from act_bench._orphans import (
    PARENT_CHECK_SECONDS,
    POOL_STATE,
    children_ignore,
    die_with_spawning_thread,
    exit_with_parent,
    init_pool_worker,
    interrupt_message,
    quiet_pool_teardown,
    quiet_resource_tracker,
    worker_signals,
)
from act_bench._progress import progress_bar
from act_bench._ray_watchdog import watch_local_cluster
from act_bench._validation import NAME_PATTERN, check_choice, check_float, check_int, check_name

__all__ = [
    "NAME_PATTERN",
    "PARENT_CHECK_SECONDS",
    "POOL_STATE",
    "atomic_write",
    "atomic_write_text",
    "check_choice",
    "check_float",
    "check_int",
    "check_name",
    "children_ignore",
    "die_with_spawning_thread",
    "exit_with_parent",
    "hardware",
    "init_pool_worker",
    "interrupt_message",
    "lock_held",
    "lock_note",
    "progress_bar",
    "quiet_pool_teardown",
    "quiet_resource_tracker",
    "refuse_symlink",
    "to_jsonable",
    "try_lock",
    "watch_local_cluster",
    "worker_signals",
]
