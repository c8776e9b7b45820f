"""The act-bench cache folder: UMAP embeddings, fetched upstream tables and their downloads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["CACHE_ENV", "default_cache_dir"]

#: Environment variable naming the cache folder (overrides the platform default).
CACHE_ENV = "ACT_BENCH_CACHE"


def default_cache_dir() -> Path:
    """``$ACT_BENCH_CACHE`` if set, else the user cache folder of the platform plus ``act-bench``.

    Linux and other Unix: ``$XDG_CACHE_HOME/act-bench`` (default ``~/.cache/act-bench``); macOS:
    ``~/Library/Caches/act-bench``; Windows: ``%LOCALAPPDATA%\\act-bench\\Cache`` (the folders ``platformdirs``
    uses). Nothing is created.

    Examples
    --------
    >>> default_cache_dir().name in ("act-bench", "Cache") or "ACT_BENCH_CACHE" in os.environ
    True
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    home = Path(os.path.expanduser("~"))
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "act-bench"
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "act-bench" / "Cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(home / ".cache")
    return Path(base) / "act-bench"
