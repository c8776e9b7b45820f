"""Atomic output files, the clean-up of temporary files left by a killed process, exclusive lock files, and the
conversion of results into plain JSON values.

Every output is written to a hidden temporary sibling named ``.<name>.tmp-<pid>-<random>`` and renamed into place; on
failure it is removed, and a later start removes the ones whose process no longer exists (a SIGKILL during the final
save leaves one behind).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: no read-only probe of a lock
    fcntl = None

__all__ = ["atomic_write", "atomic_write_text", "lock_held", "lock_note", "make_temp_dir", "make_temp_file", "refuse_symlink",
           "remove_stale_temps", "to_jsonable", "try_lock", "utc_now"]

_PID = re.compile(r"\.tmp-(\d+)-")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or a number the OS does not take: leave it alone
    return True


def remove_stale_temps(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary siblings ``.<name>.tmp-<pid>-*`` of ``target`` whose process has exited; return them."""
    target = Path(target)
    removed = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    prefix = f".{target.name}.tmp-"
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        m = _PID.match(entry.name, len(target.name) + 1)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def refuse_symlink(path: str | os.PathLike[str], what: str) -> Path:
    """Return ``path`` as a ``Path``; raise :class:`~act_bench.errors.InvalidInputError` (one line: what, where, what
    to do) if it is a symbolic link. act-bench never writes, replaces, truncates or copies through a link: its target
    is not ours. Only the last component is checked (a linked parent folder is the user's own layout).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> refuse_symlink(pathlib.Path(tempfile.mkdtemp()) / "new", "--out").name
    'new'
    """
    from act_bench.errors import InvalidInputError

    path = Path(path)
    if path.is_symlink():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        raise InvalidInputError(f"{what} {str(path)!r} is a symbolic link (to {target!r}); act-bench does not write "
                                f"or copy through links: give the real path, or remove the link")
    return path


def _umask() -> int:
    """The process's file mode creation mask, read without changing it (``/proc/self/status`` on Linux; elsewhere
    the classic set-and-restore, which is not thread-safe but is what there is)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_temp_dir(target: str | os.PathLike[str]) -> Path:
    """A new hidden temporary folder next to ``target`` (same file system, so it can be renamed onto it), with the
    mode ``mkdir`` would give it (``tempfile.mkdtemp`` makes it 0700)."""
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def make_temp_file(target: str | os.PathLike[str]) -> Path:
    """A new hidden temporary file next to ``target``, with the mode ``open()`` would give it (``0644`` under the
    usual umask; ``tempfile.mkstemp`` makes it 0600, and a renamed report would stay unreadable to others)."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(tmp)


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """The one way act-bench replaces a file: ``write(tmp)`` fills a new temporary sibling (same folder, the mode
    ``open()`` would give), which is then renamed onto ``path``; readers see the old file or the new one, never a
    part, and nothing is left on failure or interruption. ``path`` must not be a symbolic link (refused: we never
    write through one) nor a directory; stale temporaries of dead writers are removed first."""
    path = refuse_symlink(path, "output file")
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory, expected a file", str(path))
    remove_stale_temps(path)
    tmp = make_temp_file(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def try_lock(path: str | os.PathLike[str], note: str | None = None):
    """Try an exclusive, non-blocking lock on the lock file ``path`` (:class:`filelock.FileLock`).

    Returns the held lock (release it with ``.release()``), or ``None`` when another process holds it (the holder's
    ``note`` can then be read with :func:`lock_note`). ``note`` (e.g. the pid and host of the holder) is written into
    the file once the lock is ours. The kernel releases the lock when its holder dies by any signal; ``release()``
    removes the file. Raises :class:`OSError` when the file cannot be opened,
    or when ``path`` is a symbolic link (``ELOOP``: filelock opens it with ``O_NOFOLLOW``; the holder writes its
    note into the file, and a link's target is not ours).
    """
    import filelock

    held: list[os.stat_result] = []

    def write_note(fd: int) -> None:
        held.append(os.fstat(fd))  # the file this lock is on (removed on release only if still at ``path``)
        if note is not None:
            os.ftruncate(fd, 0)
            os.write(fd, note.encode())

    lock = filelock.FileLock(os.fspath(path), blocking=False, mode=0o644, thread_local=False, is_singleton=False,
                             fallback_to_soft=False, on_acquired=write_note)
    try:
        lock.acquire()
    except filelock.Timeout:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise OSError(errno.ELOOP, "is a symbolic link; act-bench does not write through links (remove "
                                       "the link)", os.fspath(path)) from None
        raise
    return _HeldLock(lock, Path(path), held[0] if held else None)


class _HeldLock:
    """A held :class:`filelock.FileLock` whose file is removed on release, so a finished or stopped command leaves
    no lock file behind (filelock keeps it). It is unlinked while still held; a process that opened the old file
    and gets its lock afterwards is not granted it, since filelock checks ``st_nlink`` (at that instant it is told
    "busy", never given a lock on a removed file)."""

    def __init__(self, lock, path: Path, stat: os.stat_result | None) -> None:
        self._lock, self.path, self._stat = lock, path, stat

    def release(self) -> None:
        try:
            with contextlib.suppress(FileNotFoundError):
                if self._stat is not None and os.path.samestat(os.lstat(self.path), self._stat):
                    os.unlink(self.path)
        finally:
            self._lock.release()


def lock_note(path: str | os.PathLike[str]) -> str:
    """The first line of the note the holder of the lock file ``path`` wrote (``"holder unknown"`` if none)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return "holder unknown"
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    finally:
        os.close(fd)
    return text.splitlines()[0] if text else "holder unknown"


def lock_held(path: str | os.PathLike[str]) -> bool:
    """Whether some process holds the lock file ``path``, asked without taking it or creating the file.

    A read-only probe (a shared ``flock`` that is refused while the holder's exclusive one is held): filelock can only
    answer this by taking the lock, which needs write access to the folder and would, for that moment, turn a real
    driver away as "busy"."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: mappings become dicts with string keys, tuples and numpy arrays lists, numpy
    scalars Python numbers, and non-finite floats ``None`` (JSON has no NaN or infinity).

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"a": np.float32(0.5), 1: (np.arange(2), float("nan"))})
    {'a': 0.5, '1': [[0, 1], None]}
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    np = sys.modules.get("numpy")  # a value can only be a numpy one once numpy is imported: no import needed here
    if np is not None:
        if isinstance(obj, np.ndarray):
            return to_jsonable(obj.tolist())
        if isinstance(obj, np.generic):
            obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def utc_now() -> str:
    """The current UTC time as ISO 8601 to the second (``2026-12-07T10:00:00+00:00``): dates in metadata and
    cache records."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
