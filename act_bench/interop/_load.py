"""``act_bench.load_table``: a table folder, a shipped table, one of the paper's fetched tables, or a Hugging Face Hub
dataset id."""

from __future__ import annotations

import os
import re
from pathlib import Path

from act_bench.errors import InvalidInputError
from act_bench.interop._fetch import ACCEPT_LICENSE_ENV, LICENSE_NAME, UPSTREAM_TABLES, cached_table_path
from act_bench.interop._hub import download_table
from act_bench.tables import FILES, BenchmarkTable, resolve_local

__all__ = ["load_table"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def load_table(name_or_path_or_hub_id: str | os.PathLike[str], revision: str | None = None, *,
               verify: bool = False) -> BenchmarkTable:
    """Load a benchmark table.

    Parameters
    ----------
    name_or_path_or_hub_id : str or path
        A directory written by :meth:`BenchmarkTable.save` / ``act-bench export-hf``; or the name of a table
        shipped with act-bench (e.g. ``"act-bench-mnist1d"``, found in :func:`act_bench.tables.data_dirs`); or one
        of the paper's tables ``"act-bench-cnn"``, ``"act-bench-resnet"``, ``"act-bench-vit"`` once fetched into the
        act-bench cache (``act-bench fetch NAME`` / :func:`fetch_upstream`; ``$ACT_BENCH_CACHE``); or a Hugging Face
        Hub dataset id ``"owner/name"`` (downloaded with ``huggingface_hub.snapshot_download`` into the HF cache).
        A bare name that is both a folder here and a table elsewhere is refused as ambiguous (write ``./NAME`` for
        the folder).
    revision : str, optional
        Hub branch, tag or commit (Hub ids only).
    verify : bool, default False
        Deep check: recompute every function's and every equivalent's outputs on the standard inputs and compare
        them with the stored ones (:meth:`BenchmarkTable.validate`). The fast checks always run.

    Returns
    -------
    BenchmarkTable

    Examples
    --------
    >>> table = load_table("tests/data/tiny-table")   # doctest: +SKIP
    >>> table.info()["rows"]                           # doctest: +SKIP
    6
    """
    found = resolve_local(name_or_path_or_hub_id, "load_table", elsewhere=_fetched, others=UPSTREAM_TABLES)
    text = os.fspath(name_or_path_or_hub_id)
    if found is not None:
        if revision is not None:
            raise InvalidInputError(f"parameter revision of load_table applies to Hub ids only; {text!r} is a "
                                    f"local table")
        return BenchmarkTable.load(found, verify=verify)
    if text in UPSTREAM_TABLES:
        cached = cached_table_path(text)
        raise InvalidInputError(f"table {text!r} is not in the cache ({str(cached)!r}); run `act-bench fetch "
                                f"{text} --accept-license` (the {LICENSE_NAME}: non-commercial use; or set "
                                f"{ACCEPT_LICENSE_ENV}=1) or, in Python, "
                                f"act_bench.interop.fetch_upstream({text!r}, accept_license=True)")
    if _HUB_ID.match(text) and not text.startswith((".", "/", "~")):
        _check_hub_id(text)
        return BenchmarkTable.load(download_table(text, revision=revision), verify=verify)
    raise InvalidInputError(f"{text!r} is neither an existing directory, a shipped table name nor a Hub id "
                            f"('owner/name')")


def _fetched(name: str) -> Path | None:
    """The folder of a fetched upstream table of that name, if it is in the cache; an upstream name not fetched
    yet is left to :func:`load_table`'s message (``None``)."""
    if name not in UPSTREAM_TABLES:
        return None
    cached = cached_table_path(name)
    return cached if (cached / FILES["metadata"]).is_file() else None


def _check_hub_id(text: str) -> None:
    """Refuse a Hub id the Hub itself would refuse (length, characters) before any network call, in one line."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        shown = repr(text) if len(text) <= 80 else repr(text[:80]) + f"… ({len(text)} characters)"
        raise InvalidInputError(f"{shown} is not a valid Hub id: 'owner/name', each made of letters, digits, '-', "
                                f"'_', '.', the name at most 96 characters") from None
