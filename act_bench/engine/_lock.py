"""One driver per journal: an OS lock on ``<journal>.lock`` held by the running driver (build or search).

The lock is a :class:`filelock.FileLock` (an ``flock`` on a file next to the journal), so the kernel releases it when
its holder dies by any signal. The holder writes its pid and host into the file; a second driver on the same journal
is refused at once with a :class:`~act_bench.errors.JournalBusyError` naming them (the CLI prints that one line and
exits with 2). A lock file that is a symbolic link is refused (nothing is written through a link).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from act_bench.errors import InvalidInputError, JournalBusyError
from act_bench.utils import lock_held, lock_note, try_lock

__all__ = ["JournalLock"]


class JournalLock:
    """Exclusive, non-blocking lock file (removed again on release).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "j.sqlite.lock"
    >>> with JournalLock(path) as lock:
    ...     lock.held, JournalLock(path).held_by_anyone()
    (True, True)
    >>> JournalLock(path).held_by_anyone(), path.exists()
    (False, False)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._lock is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`JournalBusyError` (pid and host of the holder) at once."""
        if self._lock is not None:
            return
        try:
            lock = try_lock(self.path, f"pid {os.getpid()} on host {socket.gethostname()}\n")
        except OSError as exc:
            raise InvalidInputError(f"cannot lock journal {str(self.path)!r}: {exc.strerror}") from None
        if lock is None:
            journal = self.path.with_name(self.path.name.removesuffix(".lock"))
            raise JournalBusyError(f"journal {str(journal)!r} is busy: another driver ({lock_note(self.path)}) is "
                                   f"running on it; wait for it to finish or stop it")
        self._lock = lock

    def held_by_anyone(self) -> bool:
        """Whether some process (this one included) holds the lock (asked without taking it)."""
        return self._lock is not None or lock_held(self.path)

    def release(self) -> None:
        """Release the lock and remove its file."""
        if self._lock is None:
            return
        self._lock.release()
        self._lock = None

    def __enter__(self) -> JournalLock:  # noqa: PYI034 - no subclasses
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
