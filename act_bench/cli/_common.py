"""Shared CLI helpers: one-line errors with exit code 2, JSON/human output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from act_bench._io import refuse_symlink, to_jsonable
from act_bench._validation import MAX_SEED
from act_bench.errors import InvalidInputError

__all__ = ["MAX_SEED", "ArgumentParser", "IntRange", "UsageError", "check_output", "emit", "nonnegative_int", "positive_int",
           "seed_int"]

UsageError = InvalidInputError


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error message on stderr and exit code 2 (no usage dump, no traceback).

    An option whose ``type`` is an :class:`IntRange` gets its valid range appended to its help text.
    """

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        kind = kwargs.get("type")
        if isinstance(kind, IntRange) and kwargs.get("help") not in (None, argparse.SUPPRESS):
            kwargs["help"] = f"{kwargs['help']}; {kind.text}"
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


@dataclass(frozen=True)
class IntRange:
    """An argparse ``type``: an integer in [``min_value``, ``max_value``]; the range is shown in ``--help``.

    Every numeric option of the CLI uses one of these, so no option accepts an unbounded value (``--evals 1e20``).

    Examples
    --------
    >>> IntRange(1, 100)("7")
    7
    """

    min_value: int
    max_value: int

    @property
    def text(self) -> str:
        return f"an integer >= {self.min_value} and <= {self.max_value}"

    def __call__(self, text: str) -> int:
        shown = text if len(text) <= 40 else text[:40] + "…"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.text}; got {shown!r}") from None
        if not self.min_value <= value <= self.max_value:
            raise argparse.ArgumentTypeError(f"expected {self.text}; got {shown!r}")
        return value


#: Default bounds of the generic types (kept for options added elsewhere; prefer an explicit IntRange).
positive_int = IntRange(1, 2**31 - 1)
nonnegative_int = IntRange(0, 2**31 - 1)
seed_int = IntRange(0, MAX_SEED)


def check_output(path: str | os.PathLike[str], option: str, *, folder: bool) -> Path:
    """Refuse an output path before any work is done: a file where a folder is expected (``folder=True``) or the
    reverse, a path whose nearest existing ancestor is not a writable folder (e.g. a path under a regular file), a
    symbolic link (act-bench never writes through one), or a path starting with a '~' the shell did not expand
    (``'~nosuchuser/x'``; ``./~x`` names a folder called ``~x``).
    """
    p = refuse_symlink(path, option)
    if p.parts and p.parts[0].startswith("~"):
        raise InvalidInputError(f"{option} {str(path)!r} starts with '~', which was not expanded to a home folder "
                                f"(no such user, or quoted); give the full path, or ./{path} for a folder "
                                f"named so")
    if folder and p.exists() and not p.is_dir():
        raise InvalidInputError(f"{option} must be a directory; {str(path)!r} is a file")
    if not folder and p.is_dir():
        raise InvalidInputError(f"{option} {str(path)!r} is a folder; give a file path")
    ancestor = p.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidInputError(f"{option} {str(path)!r}: {str(ancestor)!r} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidInputError(f"{option} {str(path)!r}: folder {str(ancestor)!r} is not writable")
    return p


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 seed``, ``3 seeds``, ``6 fidelities``: a number and its noun, in the right number."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def emit(result: dict[str, Any], as_json: bool, human: str | None = None) -> None:
    """Print ``result`` as one JSON document (``--json``) or the human-readable text ``human``."""
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result), allow_nan=False) + "\n")
    else:
        if human is None:
            human = "\n".join(f"{k}: {v}" for k, v in to_jsonable(result).items())
        sys.stdout.write(human.rstrip("\n") + "\n")
