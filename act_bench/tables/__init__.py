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
    "BenchmarkTable", "load_table", "FunctionNotInTableError", "list_tables", "data_dirs", "DATA_DIR_ENV", "FILES",
    "import_upstream", "iter_json_object", "UPSTREAM_KEYS", "UPSTREAM_MODELS",
    "publish_folder", "download_table", "list_upload_files", "PublishResult",
    "SCHEMA_VERSION", "CONFIGS", "FUNCTIONS_COLUMNS", "RUNS_COLUMNS", "METRICS", "N_OUTPUTS", "RunStatus",
    "CdfLayout", "functions_features", "runs_features", "arrow_schema", "default_metadata",
    "normalize_layout", "layout_entries", "read_layout_file", "detect_cdf_layout",
]
