"""Benchmark tables: schema, Parquet/Hugging Face storage, loading and querying, upstream import, Hub publishing.

Examples
--------
>>> from act_bench.tables import load_table
>>> table = load_table("tests/data/tiny-table")            # doctest: +SKIP
>>> table.query("max(zero(x),x)")["val_accuracy"]          # doctest: +SKIP
"""

from __future__ import annotations

from act_bench.tables._hub import PublishResult, download_table, list_upload_files, publish_folder
from act_bench.tables._layout import detect_cdf_layout, layout_entries, normalize_layout, read_layout_file
from act_bench.tables._load import DATA_DIR_ENV, data_dirs, list_tables, load_table
from act_bench.tables._meta import default_metadata
from act_bench.tables._schema import (
    CONFIGS,
    FUNCTIONS_COLUMNS,
    METRICS,
    N_OUTPUTS,
    RUNS_COLUMNS,
    SCHEMA_VERSION,
    CdfLayout,
    RunStatus,
    arrow_schema,
    functions_features,
    runs_features,
)
from act_bench.tables._table import FILES, BenchmarkTable, FunctionNotInTableError
from act_bench.tables._upstream import UPSTREAM_KEYS, UPSTREAM_MODELS, import_upstream, iter_json_object

__all__ = [
    "CONFIGS",
    "DATA_DIR_ENV",
    "FILES",
    "FUNCTIONS_COLUMNS",
    "METRICS",
    "N_OUTPUTS",
    "RUNS_COLUMNS",
    "SCHEMA_VERSION",
    "UPSTREAM_KEYS",
    "UPSTREAM_MODELS",
    "BenchmarkTable",
    "CdfLayout",
    "FunctionNotInTableError",
    "PublishResult",
    "RunStatus",
    "arrow_schema",
    "data_dirs",
    "default_metadata",
    "detect_cdf_layout",
    "download_table",
    "functions_features",
    "import_upstream",
    "iter_json_object",
    "layout_entries",
    "list_tables",
    "list_upload_files",
    "load_table",
    "normalize_layout",
    "publish_folder",
    "read_layout_file",
    "runs_features",
]
