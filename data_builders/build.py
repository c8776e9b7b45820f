"""Public API of what a table build trains (see :mod:`data_builders._build`); the build itself (journal, workers,
resumption, table) is run by the job engine, :func:`act_bench.engine.build_table`.

Examples
--------
>>> from data_builders.build import plan_functions
>>> plan = plan_functions(limit=3)
>>> plan.functions[:2]
['elu(x)', 'relu(x)']
"""

from __future__ import annotations

from data_builders._build import (
    BuildPlan,
    check_buildable,
    check_task_loads,
    compute_fim_record,
    fim_model_layout,
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
    "METRICS",
    "BuildPlan",
    "CodeVersion",
    "RunResult",
    "RunStatus",
    "changed_parts",
    "check_buildable",
    "check_task_loads",
    "code_version",
    "compute_fim_record",
    "fim_model_layout",
    "plan_functions",
    "resolve_device",
    "run_fim_job",
    "run_train_job",
    "source_files",
    "task_for",
    "train_run",
]
