"""Benchmark tables: schema, Parquet/Hugging Face storage, loading and querying, upstream import, Hub publishing.

Examples
--------
>>> from act_bench.tables import load_table
>>> table = load_table("tests/data/tiny-table")            # doctest: +SKIP
>>> table.query("max(zero(x),x)")["val_accuracy"]          # doctest: +SKIP
"""

from __future__ import annotations

from act_bench.tables._download import UPSTREAM_BASE_URL, UPSTREAM_URL_ENV, DownloadInfo, download_file
from act_bench.tables._fetch import (
    ACCEPT_LICENSE_ENV,
    LICENSE_NAME,
    LICENSE_NOTICE,
    LICENSE_URL,
    UPSTREAM_TABLES,
    CacheEntry,
    FetchResult,
    UpstreamTable,
    cache_info,
    cached_table_path,
    clear_cache,
    fetch_upstream,
    license_accepted,
    record_license_acceptance,
    upstream_url,
)
from act_bench.tables._hub import PublishResult, download_table, list_upload_files, publish_folder
from act_bench.tables._jsonstream import iter_json_object
from act_bench.tables._layout import detect_cdf_layout, layout_entries, normalize_layout, read_layout_file
from act_bench.tables._load import DATA_DIR_ENV, SUITE_TABLES, data_dirs, list_tables, load_table
from act_bench.tables._meta import default_metadata
from act_bench.tables._noise import NoiseSummary, noise_summary
from act_bench.tables._ranking import TOP_FRACTION, BestGroups, best_groups, group_ranking, top_groups
from act_bench.tables._records import RunRecord
from act_bench.tables._schema import (
    CONFIGS,
    CURVE_COLUMNS,
    ESTIMATE_COLUMNS,
    FILES,
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
from act_bench.tables._synetune import SYNETUNE_FILES, SYNETUNE_OBJECTIVES, export_synetune
from act_bench.tables._table import BenchmarkTable, FunctionNotInTableError
from act_bench.tables._upstream import UPSTREAM_KEYS, UPSTREAM_MODELS, import_upstream

__all__ = [
    "ACCEPT_LICENSE_ENV",
    "CONFIGS",
    "CURVE_COLUMNS",
    "DATA_DIR_ENV",
    "ESTIMATE_COLUMNS",
    "FILES",
    "FUNCTIONS_COLUMNS",
    "LICENSE_NAME",
    "LICENSE_NOTICE",
    "LICENSE_URL",
    "METRICS",
    "N_OUTPUTS",
    "RUNS_COLUMNS",
    "SCHEMA_VERSION",
    "SUITE_TABLES",
    "SYNETUNE_FILES",
    "SYNETUNE_OBJECTIVES",
    "TOP_FRACTION",
    "UPSTREAM_BASE_URL",
    "UPSTREAM_KEYS",
    "UPSTREAM_MODELS",
    "UPSTREAM_TABLES",
    "UPSTREAM_URL_ENV",
    "BenchmarkTable",
    "BestGroups",
    "CacheEntry",
    "CdfLayout",
    "DownloadInfo",
    "FetchResult",
    "FunctionNotInTableError",
    "NoiseSummary",
    "PublishResult",
    "RunRecord",
    "RunStatus",
    "UpstreamTable",
    "arrow_schema",
    "best_groups",
    "cache_info",
    "cached_table_path",
    "clear_cache",
    "data_dirs",
    "default_metadata",
    "detect_cdf_layout",
    "download_file",
    "download_table",
    "export_synetune",
    "fetch_upstream",
    "functions_features",
    "group_ranking",
    "import_upstream",
    "iter_json_object",
    "layout_entries",
    "license_accepted",
    "list_tables",
    "list_upload_files",
    "load_table",
    "noise_summary",
    "normalize_layout",
    "publish_folder",
    "read_layout_file",
    "record_license_acceptance",
    "runs_features",
    "top_groups",
    "upstream_url",
]
