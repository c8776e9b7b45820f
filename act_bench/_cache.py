"""The act-bench cache folder: UMAP embeddings, fetched upstream tables and their downloads.

The cache is act-bench's only: when act-bench creates the cache folder (or finds it empty) it writes the marker
file :data:`CACHE_MARKER` in it, and ``act-bench cache clear`` (:func:`act_bench.interop.clear_cache`) deletes only in
a marked folder, and there only the entries act-bench writes (see :mod:`act_bench.interop`). Nothing is
written through a symbolic link: a cache folder, or a folder inside it, that is a link counts as unwritable.

A cache that cannot be written (a read-only folder, a file where the folder should be, a link) is not an error for
the commands that only use it to go faster: they go on without caching and say so once, with a :class:`CacheWarning`
(the CLI prints it as one line).
"""

from __future__ import annotations

import errno
import json
import os
import warnings
from pathlib import Path

from act_bench._io import atomic_write_text
from act_bench._validation import expand_home
from act_bench._version import __version__

__all__ = ["CACHE_ENV", "CACHE_MARKER", "CacheWarning", "cache_is_marked", "cache_root", "default_cache_dir",
           "known_uncached", "make_cache_folder", "warn_uncached"]

#: Environment variable naming the cache folder (overrides the platform default).
CACHE_ENV = "ACT_BENCH_CACHE"
#: Marker file act-bench writes in the cache folder it creates; ``cache clear`` deletes only where it is.
CACHE_MARKER = ".act-bench-cache"
_MARKER_SIGNATURE = "act-bench cache folder"
# folders already reported unwritable, shared with the worker processes a command spawns (they inherit it), so a
# command warns once however many processes hit the same folder
_WARNED_ENV = "_ACT_BENCH_CACHE_UNWRITABLE"


class CacheWarning(UserWarning):
    """The cache could not be written (or an entry was corrupt and is recomputed); the work goes on without it."""


def default_cache_dir() -> Path:
    """``$ACT_BENCH_CACHE`` if set, else the user cache folder of the platform plus ``act-bench``.

    Linux and other Unix: ``$XDG_CACHE_HOME/act-bench`` (default ``~/.cache/act-bench``); macOS:
    ``~/Library/Caches/act-bench``; Windows: ``%LOCALAPPDATA%\\act-bench\\Cache``, as ``platformdirs`` gives them.
    Nothing is created.

    Examples
    --------
    >>> default_cache_dir().name in ("act-bench", "Cache") or "ACT_BENCH_CACHE" in os.environ
    True
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return expand_home(env, f"${CACHE_ENV}")
    import platformdirs

    return platformdirs.user_cache_path("act-bench", appauthor=False)


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir`` (``~`` expanded) or :func:`default_cache_dir`. Nothing is created."""
    return expand_home(cache_dir, "cache folder") if cache_dir is not None else default_cache_dir()


def cache_is_marked(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` is a folder (not a link) holding act-bench's :data:`CACHE_MARKER` (a regular file)."""
    root = Path(root)
    marker = root / CACHE_MARKER
    try:
        if root.is_symlink() or not root.is_dir() or marker.is_symlink() or not marker.is_file():
            return False
        with open(marker, encoding="utf-8", errors="replace") as fh:
            return _MARKER_SIGNATURE in fh.read(4096)
    except OSError:
        return False


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise OSError(errno.ELOOP, "is a symbolic link (act-bench writes nothing through links)", str(path))


def _write_marker(root: Path) -> None:
    marker = root / CACHE_MARKER
    text = json.dumps({"what": _MARKER_SIGNATURE, "created_by": f"act-bench {__version__}",
                       "note": "act-bench cache clear deletes only in folders holding this file, and only the "
                               "entries act-bench writes"}, indent=1) + "\n"
    atomic_write_text(marker, text)


def make_cache_folder(sub: str | None = None, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder (or its subfolder ``sub``) ready to be written; returns it.

    Creates the cache folder if needed and writes :data:`CACHE_MARKER` into it when act-bench creates it or finds
    it empty. Raises ``OSError`` (naming the path) when it cannot be written: a link, a file where a folder should
    be, no permission, a read-only file system.
    """
    root = cache_root(cache_dir)
    _refuse_link(root)
    try:
        root.mkdir(parents=True)
        fresh = True
    except FileExistsError:
        if not root.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "is not a folder", str(root)) from None
        fresh = not any(root.iterdir())
    if fresh and not cache_is_marked(root):
        _write_marker(root)
    if sub is None:
        return root
    folder = root / sub
    _refuse_link(folder)
    folder.mkdir(exist_ok=True)
    return folder


def warn_uncached(folder: str | os.PathLike[str], exc: BaseException) -> None:
    """Warn once per folder (in this process and the processes it starts) that ``folder`` is not used as a cache."""
    folder = str(folder)
    if folder in os.environ.get(_WARNED_ENV, "").split("\n"):
        return
    os.environ[_WARNED_ENV] = "\n".join(filter(None, (os.environ.get(_WARNED_ENV), folder)))
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    where = exc.filename if isinstance(exc, OSError) and exc.filename else folder
    warnings.warn(f"not caching in {folder!r}: cannot write {str(where)!r} ({reason}); going on without the cache",
                  CacheWarning, stacklevel=3)


def known_uncached(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` was already found unwritable by this process or the one that started it."""
    return str(folder) in os.environ.get(_WARNED_ENV, "").split("\n")
