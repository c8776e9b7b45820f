"""One build per journal: an advisory OS lock on ``<out>.journal/lock`` held by the running build driver.

The lock is an ``flock`` on a file in the journal folder, so the kernel releases it when its holder dies by any
signal. The holder writes its pid and host into the file; a second build on the same ``--out`` is refused at once
with a :class:`~act_bench.errors.JournalBusyError` naming them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from act_bench.errors import InvalidInputError, JournalBusyError
from act_bench.utils import try_lock

__all__ = ["LOCK_FILE", "BuildLock"]

#: Name of the lock file inside a build journal folder.
LOCK_FILE = "lock"


class BuildLock:
    """Exclusive, non-blocking lock of a build journal folder (created if missing; removed again on release when
    the lock made it and it is empty).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "t.journal"
    >>> with BuildLock(folder):
    ...     (folder / "lock").exists()
    True
    >>> folder.exists()
    False
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None
        self._made_folder = False

    def acquire(self) -> None:
        """Take the lock or raise :class:`JournalBusyError` (pid and host of the holder) at once."""
        if self._fd is not None:
            return
        if not self.folder.exists():
            try:
                self.folder.mkdir(parents=True)
                self._made_folder = True
            except FileExistsError:  # made meanwhile by another build
                pass
            except OSError as exc:
                raise InvalidInputError(f"cannot create the build journal folder {str(self.folder)!r}: "
                                        f"{exc.strerror}") from None
        try:
            fd, held = try_lock(self.path)
        except OSError as exc:
            raise InvalidInputError(f"cannot lock build journal {str(self.folder)!r}: {exc.strerror}") from None
        if not held:
            holder = _read_holder(fd)
            os.close(fd)
            raise JournalBusyError(f"build journal {str(self.folder)!r} is busy: another build ({holder}) is "
                                   f"running on this --out; wait for it to finish or stop it")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Release the lock and remove its file (and the folder, if the lock made it and nothing else is in it)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
        if self._made_folder:
            with contextlib.suppress(OSError):  # not empty: a journal was written
                self.folder.rmdir()

    def __enter__(self) -> BuildLock:  # noqa: PYI034 - no subclasses
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text.splitlines()[0] if text else "holder unknown"
