"""Public API of the table builder (see :mod:`data_builders._build`).

Examples
--------
>>> from data_builders.build import plan_functions
>>> plan = plan_functions(limit=3)
>>> plan.functions[:2]
['elu(x)', 'relu(x)']
"""

from __future__ import annotations

from data_builders._build import (
    JOURNAL_VERSION,
    BuildPlan,
    Journal,
    build_table,
    check_buildable,
    compute_fim_record,
    journal_dir_for,
    plan_functions,
    run_fim_job,
    run_train_job,
)
from data_builders._fim import task_for
from data_builders._provenance import CODE_PARTS, CodeVersion, changed_parts, code_version, source_files
from data_builders._train import CURVES, METRICS, RunResult, RunStatus, resolve_device, train_run

__all__ = [
    "CODE_PARTS",
    "CURVES",
    "JOURNAL_VERSION",
    "METRICS",
    "BuildPlan",
    "CodeVersion",
    "Journal",
    "RunResult",
    "RunStatus",
    "build_table",
    "changed_parts",
    "check_buildable",
    "code_version",
    "compute_fim_record",
    "journal_dir_for",
    "plan_functions",
    "resolve_device",
    "run_fim_job",
    "run_train_job",
    "source_files",
    "task_for",
    "train_run",
]
