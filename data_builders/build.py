"""Public API of the builders: what a table build trains (:mod:`data_builders._build`), the build driver
(:func:`build_table`: plan, journal, resumption, code-version checks; its jobs run on the job engine,
:mod:`act_bench.engine`), the contender extension (:func:`extend_build`) and the one assembler from a journal to a
benchmark table (:func:`journal_to_table`), which builds and live searches share.

Examples
--------
>>> from data_builders.build import plan_functions
>>> plan = plan_functions(limit=3)
>>> plan.functions[:2]
['elu(x)', 'relu(x)']
"""

from __future__ import annotations

from data_builders._assemble import (
    HISTOGRAM_FILE,
    assemble_build,
    code_metadata,
    effort,
    journal_to_table,
    layout_metadata,
    write_accuracy_histogram,
)
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
from data_builders._driver import (
    JOURNAL_FILE,
    BuildResult,
    build_table,
    check_journal_code,
    journal_dir_for,
    journal_path_for,
    run_build,
)
from data_builders._extend import (
    CONTENDER_FRACTION,
    ExtensionReport,
    contender_functions,
    extend_build,
    relabel_runs,
)
from data_builders._fim import task_for
from data_builders._legacy import LEGACY_FILE, LegacyJournal, convert_jsonl
from data_builders._provenance import (
    CODE_PARTS,
    CodeVersion,
    changed_parts,
    code_version,
    source_files,
    user_code_parts,
    with_parts,
)
from data_builders._train import METRICS, RunStatus, resolve_device, train_run

__all__ = [
    "CODE_PARTS",
    "CONTENDER_FRACTION",
    "HISTOGRAM_FILE",
    "JOURNAL_FILE",
    "LEGACY_FILE",
    "METRICS",
    "BuildPlan",
    "BuildResult",
    "CodeVersion",
    "ExtensionReport",
    "LegacyJournal",
    "RunStatus",
    "assemble_build",
    "build_table",
    "changed_parts",
    "check_buildable",
    "check_journal_code",
    "check_task_loads",
    "code_metadata",
    "code_version",
    "compute_fim_record",
    "contender_functions",
    "convert_jsonl",
    "effort",
    "extend_build",
    "fim_model_layout",
    "journal_dir_for",
    "journal_path_for",
    "journal_to_table",
    "layout_metadata",
    "plan_functions",
    "relabel_runs",
    "resolve_device",
    "run_build",
    "run_fim_job",
    "run_train_job",
    "source_files",
    "task_for",
    "train_run",
    "user_code_parts",
    "with_parts",
    "write_accuracy_histogram",
]

#: Aliases of the run record and its curve columns, kept one release (``RunRecord``/``CURVE_COLUMNS`` live in
#: :mod:`act_bench.tables`).
_DEPRECATED = {"RunResult": ("act_bench.tables", "RunRecord"), "CURVES": ("act_bench.tables", "CURVE_COLUMNS")}


def __getattr__(name: str):
    if name in _DEPRECATED:
        import importlib
        import warnings

        module, new = _DEPRECATED[name]
        warnings.warn(f"data_builders.build.{name} is deprecated and will be removed in the next release; use "
                      f"{module}.{new}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), new)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
