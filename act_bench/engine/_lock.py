"""One driver per journal: an advisory OS lock on ``<journal>.lock`` held by the running driver (build or search).

The lock is an ``flock`` on a file next to the journal, so the kernel releases it when its holder dies by any
signal. The holder writes its pid and host into the file; a second driver on the same journal is refused at once
with a :class:`~act_bench.errors.JournalBusyError` naming them (the CLI prints that one line and exits with 2).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from act_bench.errors import InvalidInputError, JournalBusyError
from act_bench.utils import try_lock

__all__ = ["JournalLock"]


class JournalLock:
    """Exclusive, non-blocking lock file (removed again on release).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "j.sqlite.lock"
    >>> with JournalLock(path):
    ...     path.exists()
    True
    >>> path.exists()
    False
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`JournalBusyError` (pid and host of the holder) at once."""
        if self._fd is not None:
            return
        try:
            fd, held = try_lock(self.path)
        except OSError as exc:
            raise InvalidInputError(f"cannot lock journal {str(self.path)!r}: {exc.strerror}") from None
        if not held:
            holder = _read_holder(fd)
            os.close(fd)
            journal = self.path.with_name(self.path.name.removesuffix(".lock"))
            raise JournalBusyError(f"journal {str(journal)!r} is busy: another driver ({holder}) is running on it; "
                                   f"wait for it to finish or stop it")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode())
        self._fd = fd

    def held_by_anyone(self) -> bool:
        """Whether some process (this one included) holds the lock."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        """Release the lock and remove its file."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> JournalLock:  # noqa: PYI034 - no subclasses
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
