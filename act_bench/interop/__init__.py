"""Interoperability: everything that talks to the outside world about tables, apart from the table model
(:mod:`act_bench.tables`, which never imports this package).

* the paper's upstream Act-Bench tables: :func:`import_upstream` (their JSON files), :func:`download_file` (resumable,
  verified, with a deadline and a size cap), :func:`fetch_upstream` and the act-bench cache of fetched tables
  (:func:`cache_info`, :func:`clear_cache`), the licence notice and its acceptance;
* the Hugging Face Hub: :func:`download_table`, :func:`list_upload_files`, :func:`publish_folder`;
* Syne Tune: :func:`export_synetune` (a blackbox-repository folder);
* :func:`load_table`: a folder or shipped name (the core's :func:`act_bench.tables.load_table`), a fetched upstream
  table, or a Hub dataset id; what ``act_bench.load_table`` and the CLI use;
* :func:`iter_json_object`: streaming a large JSON object (the upstream files) without loading it whole.

Examples
--------
>>> from act_bench.interop import UPSTREAM_TABLES
>>> sorted(UPSTREAM_TABLES)
['act-bench-cnn', 'act-bench-resnet', 'act-bench-vit']
"""

from __future__ import annotations

from act_bench.interop._download import UPSTREAM_BASE_URL, UPSTREAM_URL_ENV, DownloadInfo, download_file
from act_bench.interop._fetch import (
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
from act_bench.interop._hub import PublishResult, download_table, list_upload_files, publish_folder
from act_bench.interop._jsonstream import iter_json_object
from act_bench.interop._load import load_table
from act_bench.interop._synetune import SYNETUNE_FILES, SYNETUNE_OBJECTIVES, export_synetune
from act_bench.interop._upstream import UPSTREAM_KEYS, UPSTREAM_MODELS, import_upstream

__all__ = [
    "ACCEPT_LICENSE_ENV",
    "LICENSE_NAME",
    "LICENSE_NOTICE",
    "LICENSE_URL",
    "SYNETUNE_FILES",
    "SYNETUNE_OBJECTIVES",
    "UPSTREAM_BASE_URL",
    "UPSTREAM_KEYS",
    "UPSTREAM_MODELS",
    "UPSTREAM_TABLES",
    "UPSTREAM_URL_ENV",
    "CacheEntry",
    "DownloadInfo",
    "FetchResult",
    "PublishResult",
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
    "load_table",
    "publish_folder",
    "record_license_acceptance",
    "upstream_url",
]
