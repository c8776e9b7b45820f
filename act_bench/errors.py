"""Exception types raised by act-bench.

Every error caused by user input derives from :class:`InvalidInputError` (a ``ValueError``), so that callers can
catch it in one place; the CLI turns it into a one-line message on stderr and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "ActBenchError",
    "DownloadError",
    "InvalidInputError",
    "JournalBusyError",
    "OptionalDependencyError",
    "ParseError",
    "SchemaMismatchError",
]


class ActBenchError(Exception):
    """Base class of all act-bench errors."""


class InvalidInputError(ActBenchError, ValueError):
    """A user-supplied value (argument, file, expression) is invalid; the message says what, where and what is valid."""


class ParseError(InvalidInputError):
    """An activation-function string could not be parsed.

    Attributes
    ----------
    text : str
        The string that was parsed.
    position : int
        0-based character offset where parsing failed.
    """

    def __init__(self, message: str, *, text: str = "", position: int = 0) -> None:
        super().__init__(message)
        self.text = text
        self.position = position


class SchemaMismatchError(InvalidInputError):
    """A file (Parquet, JSON, journal) does not have the expected schema or version."""


class JournalBusyError(InvalidInputError):
    """Another running driver (a build or a live search) holds the journal; the message names it where known."""


class OptionalDependencyError(ActBenchError, ImportError):
    """An optional dependency (e.g. Ray) is needed for this feature but not installed."""


class DownloadError(ActBenchError):
    """A download failed (HTTP error, interrupted transfer, size or checksum mismatch); the message says what to do."""
