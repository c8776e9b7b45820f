"""One progress-bar factory for every long-running command: tqdm on stderr, slower when stderr is not a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm import tqdm

__all__ = ["NON_TTY_INTERVAL_S", "no_progress", "progress_bar"]

#: Seconds between two updates when stderr is a file or a pipe (a log gets a line every few seconds, not a flood).
NON_TTY_INTERVAL_S = 5.0

_silenced = False


@contextlib.contextmanager
def no_progress(silence: bool = True) -> Iterator[None]:
    """Within the block every bar made by :func:`progress_bar` is disabled (``silence=True``); the CLI's
    ``--no-progress``. Nested blocks keep the outer setting once they end."""
    global _silenced
    before = _silenced
    _silenced = before or silence
    try:
        yield
    finally:
        _silenced = before


def progress_bar(iterable: Iterable[Any] | None = None, *, total: float | None = None, desc: str | None = None,
                 unit: str = "it", disable: bool = False, **kwargs: Any) -> tqdm:
    """A ``tqdm`` bar on stderr; on a terminal it updates every 0.1 s, elsewhere every ``NON_TTY_INTERVAL_S`` s.

    The bar always closes with its final count (``n/total``), so a log shows where a step ended. Set the environment
    variable ``TQDM_DISABLE=1`` to silence every bar (or run the code inside :func:`no_progress`).

    Examples
    --------
    >>> bar = progress_bar(total=3, desc="demo", disable=True)
    >>> bar.update(3); bar.close()
    """
    stream = sys.stderr
    tty = bool(getattr(stream, "isatty", lambda: False)())
    kwargs.setdefault("mininterval", 0.1 if tty else NON_TTY_INTERVAL_S)
    kwargs.setdefault("dynamic_ncols", tty)
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=stream, disable=disable or _silenced,
                **kwargs)
