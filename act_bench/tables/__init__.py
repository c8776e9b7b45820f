"""Benchmark tables, the core: schema, records, CDF layout, Parquet and Hugging Face ``datasets`` storage,
validation, dataset card, loading (folders and shipped names) and querying, rankings and noise.

What talks to the outside world (the paper's upstream tables: import, download, fetch; the Hugging Face Hub; Syne
Tune export) is :mod:`act_bench.interop`, which this package never imports (an import-linter contract). Their old
names here are deprecated aliases for one release.

Examples
--------
>>> from act_bench.tables import load_table
>>> table = load_table("tests/data/tiny-table")            # doctest: +SKIP
>>> table.query("max(zero(x),x)")["val_accuracy"]          # doctest: +SKIP
"""

from __future__ import annotations

from act_bench.tables._layout import detect_cdf_layout, layout_entries, normalize_layout, read_layout_file
from act_bench.tables._load import (
    DATA_DIR_ENV,
    SUITE_TABLES,
    data_dirs,
    list_tables,
    load_table,
    resolve_local,
)
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
    OPTIONAL_COLUMNS,
    RUNS_COLUMNS,
    SCHEMA_VERSION,
    CdfLayout,
    RunStatus,
    arrow_schema,
    functions_features,
    runs_features,
)
from act_bench.tables._table import BenchmarkTable, FunctionNotInTableError

__all__ = [
    "CONFIGS",
    "CURVE_COLUMNS",
    "DATA_DIR_ENV",
    "ESTIMATE_COLUMNS",
    "FILES",
    "FUNCTIONS_COLUMNS",
    "METRICS",
    "N_OUTPUTS",
    "OPTIONAL_COLUMNS",
    "RUNS_COLUMNS",
    "SCHEMA_VERSION",
    "SUITE_TABLES",
    "TOP_FRACTION",
    "BenchmarkTable",
    "BestGroups",
    "CdfLayout",
    "FunctionNotInTableError",
    "NoiseSummary",
    "RunRecord",
    "RunStatus",
    "arrow_schema",
    "best_groups",
    "data_dirs",
    "default_metadata",
    "detect_cdf_layout",
    "functions_features",
    "group_ranking",
    "layout_entries",
    "list_tables",
    "load_table",
    "noise_summary",
    "normalize_layout",
    "read_layout_file",
    "resolve_local",
    "runs_features",
    "top_groups",
]


#: Names that moved to :mod:`act_bench.interop` (deprecated aliases here for one release).
_MOVED_TO_INTEROP = frozenset({
    "ACCEPT_LICENSE_ENV",
    "CacheEntry",
    "DownloadInfo",
    "FetchResult",
    "LICENSE_NAME",
    "LICENSE_NOTICE",
    "LICENSE_URL",
    "PublishResult",
    "SYNETUNE_FILES",
    "SYNETUNE_OBJECTIVES",
    "UPSTREAM_BASE_URL",
    "UPSTREAM_KEYS",
    "UPSTREAM_MODELS",
    "UPSTREAM_TABLES",
    "UPSTREAM_URL_ENV",
    "UpstreamTable",
    "cache_info",
    "cached_table_path",
    "clear_cache",
    "download_file",
    "download_table",
    "export_synetune",
    "fetch_upstream",
    "import_upstream",
    "iter_json_object",
    "license_accepted",
    "list_upload_files",
    "publish_folder",
    "record_license_acceptance",
    "upstream_url",
})


def __getattr__(name: str):
    """The deprecated aliases of :data:`_MOVED_TO_INTEROP`: resolved by name at first use (this package does not
    import the interop), with a :class:`DeprecationWarning` saying where the name lives now."""
    if name in _MOVED_TO_INTEROP:
        import importlib
        import warnings

        warnings.warn(f"act_bench.tables.{name} moved to act_bench.interop.{name}; the old name goes in the next "
                      f"release", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("act_bench.interop"), name)
    raise AttributeError(f"module 'act_bench.tables' has no attribute {name!r}")
