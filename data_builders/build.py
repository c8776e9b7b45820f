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
    compute_fim_record,
    journal_dir_for,
    plan_functions,
    run_fim_job,
    run_train_job,
)
from data_builders._train import METRICS, RunResult, RunStatus, resolve_device, train_run

__all__ = ["build_table", "plan_functions", "BuildPlan", "Journal", "JOURNAL_VERSION", "journal_dir_for",
           "run_train_job", "run_fim_job", "compute_fim_record", "train_run", "RunResult", "RunStatus", "METRICS",
           "resolve_device"]
