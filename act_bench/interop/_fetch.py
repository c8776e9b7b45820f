"""Fetch the paper's published tables (Act-Bench-CNN, -ResNet, -ViT) into the act-bench cache.

The files are the JSON files of the upstream repository `cognizant-ai-labs/act-bench`; its ``download-datasets.sh``
downloads them from ``https://act-bench.s3.us-west-2.amazonaws.com/act-bench-{cnn,resnet,vit}.json``, which is
:data:`UPSTREAM_BASE_URL` plus the file names. A mirror keeps the file names under another base URL
(``base_url=`` / ``--url`` / ``$ACT_BENCH_UPSTREAM_URL``).

Downloads resume (HTTP ``Range``, guarded by ``If-Range`` with the server's ``ETag``), are checked against the
``Content-Length``, a checksum the server sends (``x-amz-checksum-sha256``, ``Repr-Digest`` or ``Digest`` with
SHA-256) and an optional pinned SHA-256, then imported with :func:`import_upstream` into
``<cache>/tables/<name>``. The upstream repository publishes no checksums, so none is pinned by default.

The files are under the Academic Public License (non-commercial use; see :data:`LICENSE_URL`): the first fetch into
a cache needs ``accept_license=True`` (``--accept-license`` or ``ACT_BENCH_ACCEPT_LICENSE=1``), recorded in the cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from act_bench._cache import CACHE_MARKER, cache_is_marked, default_cache_dir, make_cache_folder
from act_bench._io import atomic_write_text, utc_now
from act_bench._validation import check_choice
from act_bench.errors import DownloadError, InvalidInputError
from act_bench.interop._download import (
    LOCK_SUFFIX,
    STATE_SUFFIX,
    UPSTREAM_BASE_URL,
    UPSTREAM_URL_ENV,
    download_file,
)
from act_bench.interop._upstream import import_upstream
from act_bench.tables import FILES, BenchmarkTable

__all__ = [
    "ACCEPT_LICENSE_ENV",
    "LICENSE_NAME",
    "LICENSE_NOTICE",
    "LICENSE_URL",
    "UPSTREAM_TABLES",
    "CacheEntry",
    "FetchResult",
    "UpstreamTable",
    "cache_info",
    "cached_table_path",
    "clear_cache",
    "fetch_upstream",
    "license_accepted",
    "record_license_acceptance",
    "upstream_url",
]

#: Environment variable that accepts the licence of the upstream files (value ``1``, ``true`` or ``yes``).
ACCEPT_LICENSE_ENV = "ACT_BENCH_ACCEPT_LICENSE"
LICENSE_NAME = "Academic Public License (Act-Bench Datasets)"
LICENSE_URL = "https://github.com/cognizant-ai-labs/act-bench/blob/main/LICENSE.txt"
LICENSE_NOTICE = (
    f"The Act-Bench-CNN, -ResNet and -ViT files are licensed by Cognizant Technology Solutions Corp under the "
    f"{LICENSE_NAME}:\n"
    "  - use is granted free of charge for noncommercial purposes only (teaching and research at universities and\n"
    "    non-profit research institutions, personal non-profit use); commercial use needs a commercial license\n"
    "    from Cognizant (www.cognizant.com);\n"
    "  - copies and works based on them may be distributed only under the same license, with its notices kept.\n"
    f"Full text: {LICENSE_URL}\n"
    "act-bench downloads the files from their publisher and keeps them in your cache; it never redistributes them.")

_DOWNLOADS, _TABLES, _LICENSES, _EMBEDDINGS = "downloads", "tables", "licenses", "embeddings"
_LICENSE_RECORD = "act-bench-academic-public-license.json"


@dataclass(frozen=True)
class UpstreamTable:
    """One published table: the name act-bench loads it by, its file name and the model it was built with."""

    name: str
    file: str
    model: str
    dataset: str
    sha256: str | None = None  # no checksums are published upstream; a pinned value would go here


#: The three published tables (names as in the paper's Table 1 and the upstream file names).
UPSTREAM_TABLES = {t.name: t for t in (
    UpstreamTable("act-bench-cnn", "act-bench-cnn.json", "all-cnn-c", "Act-Bench-CNN"),
    UpstreamTable("act-bench-resnet", "act-bench-resnet.json", "resnet-56", "Act-Bench-ResNet"),
    UpstreamTable("act-bench-vit", "act-bench-vit.json", "mobilevitv2-0.5", "Act-Bench-ViT"),
)}


@dataclass(frozen=True)
class FetchResult:
    """The outcome of :func:`fetch_upstream`."""

    name: str
    path: str
    url: str
    bytes: int
    sha256: str
    date: str
    rows: int
    resumed_from: int
    requests: int
    already_cached: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CacheEntry:
    """One thing in the cache: a fetched table, a (partial) download, the embeddings, a licence record."""

    kind: str
    name: str
    path: str
    bytes: int


# --- small helpers -------------------------------------------------------------------------------------------------

def _cache(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _check_name(name: Any, func: str) -> UpstreamTable:
    return UPSTREAM_TABLES[check_choice(name, "name", func, tuple(UPSTREAM_TABLES))]


def upstream_url(name: str, base_url: str | None = None) -> str:
    """The download URL of table ``name``: ``base_url`` (else ``$ACT_BENCH_UPSTREAM_URL``, else
    :data:`UPSTREAM_BASE_URL`) joined with the published file name.

    Examples
    --------
    >>> upstream_url("act-bench-vit")
    'https://act-bench.s3.us-west-2.amazonaws.com/act-bench-vit.json'
    >>> upstream_url("act-bench-cnn", "http://localhost:8000/mirror/")
    'http://localhost:8000/mirror/act-bench-cnn.json'
    """
    table = _check_name(name, "upstream_url")
    base = base_url if base_url is not None else (os.environ.get(UPSTREAM_URL_ENV) or UPSTREAM_BASE_URL)
    parsed = urllib.parse.urlsplit(base)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInputError(f"base URL {base!r} (--url / ${UPSTREAM_URL_ENV}) must be an http:// or https:// "
                                f"URL such as {UPSTREAM_BASE_URL!r}")
    return base.rstrip("/") + "/" + table.file


def cached_table_path(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder of fetched table ``name`` in the cache (it may not exist)."""
    return _cache(cache_dir) / _TABLES / _check_name(name, "cached_table_path").name


# --- licence -------------------------------------------------------------------------------------------------------

def license_accepted(cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether the upstream licence was accepted for this cache (recorded by :func:`record_license_acceptance`)."""
    return (_cache(cache_dir) / _LICENSES / _LICENSE_RECORD).is_file()


def record_license_acceptance(cache_dir: str | os.PathLike[str] | None = None, *, how: str = "accept_license=True") -> Path:
    """Record in the cache that the user accepted the upstream licence; returns the record's path."""
    folder = make_cache_folder(_LICENSES, cache_dir)
    path = folder / _LICENSE_RECORD
    record = {"license": LICENSE_NAME, "url": LICENSE_URL, "accepted": utc_now(), "how": how}
    return atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def _env_accepts() -> bool:
    return os.environ.get(ACCEPT_LICENSE_ENV, "").strip().lower() in ("1", "true", "yes")


# --- fetch ---------------------------------------------------------------------------------------------------------

def fetch_upstream(name: str, *, base_url: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                   accept_license: bool = False, sha256: str | None = None, force: bool = False,
                   keep_download: bool = False, retries: int = 3, timeout: float = 60.0, retry_wait: float = 1.0,
                   progress: bool = True) -> FetchResult:
    """Download a published table and import it into the cache, where ``load_table(name)`` finds it.

    Parameters
    ----------
    name : {"act-bench-cnn", "act-bench-resnet", "act-bench-vit"}
        The table (file ``<name>.json``).
    base_url : str, optional
        Where the files are (default ``$ACT_BENCH_UPSTREAM_URL``, else :data:`UPSTREAM_BASE_URL`).
    cache_dir : path, optional
        Cache folder (default ``$ACT_BENCH_CACHE`` or the user cache folder, see ``default_cache_dir``).
    accept_license : bool
        Accept the :data:`LICENSE_NAME` (needed once per cache, unless ``ACT_BENCH_ACCEPT_LICENSE=1``).
    sha256 : str, optional
        Expected SHA-256 of the file (no checksums are published upstream).
    force : bool
        Download and import again even if the table is in the cache.
    keep_download : bool
        Keep the JSON file in ``<cache>/downloads`` after the import (deleted by default: the table holds its data).
    retries, timeout, retry_wait, progress
        See :func:`download_file`.

    Returns
    -------
    FetchResult

    Examples
    --------
    >>> fetch_upstream("act-bench-cnn", accept_license=True)   # doctest: +SKIP
    >>> load_table("act-bench-cnn").info()["rows"]               # doctest: +SKIP
    """
    table_info = _check_name(name, "fetch_upstream")
    url = upstream_url(name, base_url)
    cache = _cache(cache_dir)
    target = cache / _TABLES / table_info.name
    if (target / FILES["metadata"]).is_file() and not force:
        table = BenchmarkTable.load(target)
        meta = table.metadata.get("download") or {}
        return FetchResult(name=table_info.name, path=str(target), url=meta.get("url", ""),
                           bytes=int(meta.get("bytes", 0)), sha256=meta.get("sha256", ""),
                           date=meta.get("date", ""), rows=len(table), resumed_from=0, requests=0,
                           already_cached=True)
    if not license_accepted(cache):
        if not (accept_license or _env_accepts()):
            raise InvalidInputError(f"the {LICENSE_NAME} (non-commercial use) must be accepted before the first "
                                    f"download: pass --accept-license (Python: accept_license=True) or set "
                                    f"{ACCEPT_LICENSE_ENV}=1; full text: {LICENSE_URL}")
        record_license_acceptance(cache, how="--accept-license" if accept_license else f"{ACCEPT_LICENSE_ENV}=1")
    expected = sha256 or table_info.sha256
    make_cache_folder(None, cache)   # marks a cache act-bench creates, so `cache clear` may empty it
    dest = cache / _DOWNLOADS / table_info.file
    info = download_file(url, dest, sha256=expected, retries=retries, timeout=timeout, retry_wait=retry_wait,
                         progress=progress)
    try:
        table = import_upstream(dest, model=table_info.model, name=table_info.name, license="other")
    except InvalidInputError as exc:
        raise DownloadError(f"{url} was downloaded ({info.bytes:,} bytes, SHA-256 {info.sha256}) but is not a valid "
                            f"Act-Bench file: {exc}; it is kept in {str(dest)!r}") from None
    date = utc_now()
    table.metadata["source"] = url
    table.metadata["download"] = {"url": url, "bytes": info.bytes, "sha256": info.sha256, "date": date,
                                  "checksum_checked_by": [c for c in (info.server_checksum,
                                                                      "pinned sha256" if expected else None) if c]}
    table.metadata["license_name"] = LICENSE_NAME
    table.metadata["license_url"] = LICENSE_URL
    table.metadata["notes"] = (f"{table_info.dataset} from Bingham & Miikkulainen (NeurIPS 2023), downloaded from "
                               f"{url} on {date} (SHA-256 {info.sha256}). Licensed under the {LICENSE_NAME} "
                               f"({LICENSE_URL}): noncommercial use only; redistribution needs the licensor's terms.")
    table.save(target, overwrite=True)
    if not keep_download:
        dest.unlink(missing_ok=True)
    return FetchResult(name=table_info.name, path=str(target), url=url, bytes=info.bytes, sha256=info.sha256,
                       date=date, rows=len(table), resumed_from=info.resumed_from, requests=info.requests,
                       already_cached=False)


# --- cache inspection ----------------------------------------------------------------------------------------------

_TEMP = r"(?:\.tmp-\d+-[^/]*|\.\d+\.tmp)"   # temporary siblings (act_bench._io and older writers)


def _temp_of(name: str, target: str) -> bool:
    return re.fullmatch(rf"\.{re.escape(target)}{_TEMP}", name) is not None


def _ours(sub: str, entry: Path) -> bool:
    """Whether ``entry`` (in ``<cache>/<sub>``, not a link) is one act-bench writes there."""
    name = entry.name
    if sub == _TABLES:
        return entry.is_dir() and any(name == t or _temp_of(name, t) for t in UPSTREAM_TABLES)
    if not entry.is_file():
        return False
    if sub == _DOWNLOADS:
        files = [f"{t.file}{suffix}" for t in UPSTREAM_TABLES.values()
                 for suffix in ("", ".part", STATE_SUFFIX, LOCK_SUFFIX)]
        return any(name == f or _temp_of(name, f) for f in files)
    if sub == _EMBEDDINGS:
        plain = re.fullmatch(r"[0-9a-f]{32}\.(?:npy|json)|base-[0-9a-f]{32}\.npz", name)
        temp = re.fullmatch(rf"\.(?:[0-9a-f]{{32}}\.(?:npy|json)|base-[0-9a-f]{{32}}\.npz){_TEMP}", name)
        return bool(plain or temp)
    if sub == _LICENSES:
        return name == _LICENSE_RECORD or _temp_of(name, _LICENSE_RECORD) or name == _LICENSE_RECORD + ".tmp"
    return False


def _own_entries(cache: Path, subs: tuple[str, ...]) -> dict[str, list[Path]]:
    """Per subfolder, the entries act-bench wrote there (links and anything else are left out)."""
    found: dict[str, list[Path]] = {}
    for sub in subs:
        folder = cache / sub
        if folder.is_symlink() or not folder.is_dir():
            continue
        found[sub] = [p for p in sorted(folder.iterdir()) if not p.is_symlink() and _ours(sub, p)]
    return found


def _entries(cache: Path, found: dict[str, list[Path]]) -> list[CacheEntry]:
    entries: list[CacheEntry] = []
    for p in found.get(_TABLES, []):
        entries.append(CacheEntry("table", p.name, str(p), _size(p)))
    for p in found.get(_DOWNLOADS, []):
        kind = "download" if p.name in {t.file for t in UPSTREAM_TABLES.values()} else "partial download"
        entries.append(CacheEntry(kind, p.name, str(p), _size(p)))
    emb = found.get(_EMBEDDINGS, [])
    if emb:
        maps = sum(1 for p in emb if p.name.endswith(".npy") and not p.name.startswith("."))
        bases = sum(1 for p in emb if p.name.endswith(".npz") and not p.name.startswith("."))
        entries.append(CacheEntry("embeddings", f"{maps} UMAP map(s), {bases} shared base(s)", str(cache / _EMBEDDINGS),
                                  sum(_size(p) for p in emb)))
    for p in found.get(_LICENSES, []):
        if p.name == _LICENSE_RECORD:
            entries.append(CacheEntry("license", "licence accepted", str(p), _size(p)))
    return entries


def cache_info(cache_dir: str | os.PathLike[str] | None = None) -> list[CacheEntry]:
    """What the cache holds of act-bench's: fetched tables, downloads (complete or partial), embeddings (UMAP maps
    and their shared bases), the licence record."""
    cache = _cache(cache_dir)
    return _entries(cache, _own_entries(cache, (_TABLES, _DOWNLOADS, _EMBEDDINGS, _LICENSES)))


def clear_cache(cache_dir: str | os.PathLike[str] | None = None, *, embeddings_only: bool = False,
                dry_run: bool = False) -> list[CacheEntry]:
    """Delete what :func:`cache_info` lists (the licence record included), or only the embeddings; returns what was
    (with ``dry_run``: would be) removed.

    Only in a folder act-bench marked as its cache (:data:`act_bench._cache.CACHE_MARKER`, written when act-bench
    creates the folder), and there only the entries act-bench writes (``tables/<name>`` of the published tables,
    their downloads, ``embeddings/<key>.npy|.json``, ``embeddings/base-<key>.npz``, the licence record and their
    temporary files); anything else, and any symbolic link, is left alone. A folder without the marker that holds
    such entries (a cache made before the marker, or a folder that is not act-bench's) is refused with
    :class:`~act_bench.errors.InvalidInputError`: nothing is deleted there.
    """
    cache = _cache(cache_dir)
    if cache.is_symlink():
        raise InvalidInputError(f"cache folder {str(cache)!r} is a symbolic link: act-bench deletes nothing through "
                                f"links; pass --cache-dir with the folder it points to")
    if cache.exists() and not cache.is_dir():
        raise InvalidInputError(f"cache folder {str(cache)!r} is not a folder; nothing removed")
    subs = (_EMBEDDINGS,) if embeddings_only else (_TABLES, _DOWNLOADS, _EMBEDDINGS, _LICENSES)
    found = _own_entries(cache, subs) if cache.is_dir() else {}
    removed = _entries(cache, found)
    if not any(found.values()):
        return []
    if not cache_is_marked(cache):
        raise InvalidInputError(f"{str(cache)!r} has no act-bench marker file {CACHE_MARKER!r}, so act-bench did not "
                                f"create it (or created it before markers) and deletes nothing there; delete what "
                                f"you no longer need by hand")
    if dry_run:
        return removed
    for sub, paths in found.items():
        for p in paths:
            if p.is_symlink():
                continue
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        with contextlib.suppress(OSError):   # the subfolder goes too when nothing else is in it
            (cache / sub).rmdir()
    return removed
