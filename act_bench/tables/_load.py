"""``load_table``: resolve a shipped table name, a directory, or a Hugging Face Hub dataset id."""

from __future__ import annotations

import os
import re
from pathlib import Path

from act_bench.errors import InvalidInputError
from act_bench.tables._fetch import ACCEPT_LICENSE_ENV, LICENSE_NAME, UPSTREAM_TABLES, cached_table_path
from act_bench.tables._table import FILES, BenchmarkTable

__all__ = ["DATA_DIR_ENV", "data_dirs", "list_tables", "load_table"]

#: Environment variable naming an extra folder of shipped tables (searched first).
DATA_DIR_ENV = "ACT_BENCH_DATA_DIR"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_NAME = re.compile(r"^[\w.-]+$")


def data_dirs() -> list[Path]:
    """Folders searched for shipped tables, in order.

    ``$ACT_BENCH_DATA_DIR`` (if set), ``<repository>/data`` (a source checkout: the folder next to the
    ``act_bench`` package), and ``<site-packages>/act_bench/data`` (tables installed inside the package).
    """
    package = Path(__file__).resolve().parents[1]
    dirs = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        dirs.append(Path(env))
    dirs += [package.parent / "data", package / "data"]
    return dirs


def list_tables() -> list[str]:
    """Names of the shipped tables found in :func:`data_dirs`."""
    names: set[str] = set()
    for d in data_dirs():
        if d.is_dir():
            names.update(p.name for p in d.iterdir() if (p / FILES["metadata"]).is_file())
    return sorted(names)


def load_table(name_or_path_or_hub_id: str | os.PathLike[str], revision: str | None = None) -> BenchmarkTable:
    """Load a benchmark table.

    Parameters
    ----------
    name_or_path_or_hub_id : str or path
        A directory written by :meth:`BenchmarkTable.save` / ``act-bench export-hf``; or the name of a table
        shipped with act-bench (e.g. ``"act-bench-mnist1d"``, found in :func:`data_dirs`); or a Hugging Face Hub
        dataset id ``"owner/name"`` (downloaded with ``huggingface_hub.snapshot_download`` into the HF cache); or
        one of the paper's tables ``"act-bench-cnn"``, ``"act-bench-resnet"``, ``"act-bench-vit"`` once fetched
        into the act-bench cache (``act-bench fetch NAME`` / :func:`fetch_upstream`; ``$ACT_BENCH_CACHE``).
    revision : str, optional
        Hub branch, tag or commit (Hub ids only).

    Returns
    -------
    BenchmarkTable

    Examples
    --------
    >>> table = load_table("tests/data/tiny-table")   # doctest: +SKIP
    >>> table.info()["rows"]                           # doctest: +SKIP
    6
    """
    if isinstance(name_or_path_or_hub_id, os.PathLike):
        name_or_path_or_hub_id = os.fspath(name_or_path_or_hub_id)
    if not isinstance(name_or_path_or_hub_id, str) or not name_or_path_or_hub_id:
        raise InvalidInputError(f"parameter name_or_path_or_hub_id of load_table must be a non-empty string or "
                                f"path; got {name_or_path_or_hub_id!r}")
    text = name_or_path_or_hub_id
    path = Path(text).expanduser()
    if path.is_dir():
        if revision is not None:
            raise InvalidInputError(f"parameter revision of load_table applies to Hub ids only; {text!r} is a "
                                    f"local directory")
        return BenchmarkTable.load(path)
    if path.exists():
        raise InvalidInputError(f"{text!r} is a file; load_table expects a table directory (with "
                                f"{FILES['functions']}, {FILES['runs']} and {FILES['metadata']})")
    if _NAME.match(text):
        for d in data_dirs():
            if (d / text).is_dir():
                return BenchmarkTable.load(d / text)
        if text in UPSTREAM_TABLES:
            cached = cached_table_path(text)
            if (cached / FILES["metadata"]).is_file():
                return BenchmarkTable.load(cached)
            raise InvalidInputError(f"table {text!r} is not in the cache ({str(cached)!r}); run `act-bench fetch "
                                    f"{text} --accept-license` (the {LICENSE_NAME}: non-commercial use; or set "
                                    f"{ACCEPT_LICENSE_ENV}=1) or, in Python, "
                                    f"act_bench.tables.fetch_upstream({text!r}, accept_license=True)")
        shipped = list_tables()
        raise InvalidInputError(f"no table named {text!r}: shipped tables are "
                                f"{', '.join(shipped) if shipped else '(none found)'} (searched "
                                f"{', '.join(str(d) for d in data_dirs())}); a path must exist; a Hub id looks like "
                                f"'owner/name'")
    if _HUB_ID.match(text) and not text.startswith((".", "/", "~")):
        from act_bench.tables._hub import download_table

        return BenchmarkTable.load(download_table(text, revision=revision))
    raise InvalidInputError(f"{text!r} is neither an existing directory, a shipped table name nor a Hub id "
                            f"('owner/name')")
