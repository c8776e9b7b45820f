"""One helper for validating user input at the public edge (messages: "parameter X of F must be ...; got ...")."""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from act_bench.errors import InvalidInputError

__all__ = ["MAX_SEED", "NAME_PATTERN", "InvalidInputError", "check_choice", "check_float", "check_int", "check_name", "expand_home"]

#: A name that may become a file or folder name (table names, Hub dataset names): 1-96 characters out of letters,
#: digits, ``_``, ``.`` and ``-``, starting with a letter or digit; never ``..``, never a path separator.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
#: Largest seed: numpy's ``RandomState`` and ``SeedSequence``-based code accept seeds in [0, 2**32).
MAX_SEED = 2**32 - 1


def _fail(name: str, func: str, must: str, got: Any) -> InvalidInputError:
    return InvalidInputError(f"parameter {name} of {func} must be {must}; got {got!r}")


def check_int(value: Any, name: str, func: str, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer within [min_value, max_value], else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(name, func, "an integer", value)
    if min_value is not None and value < min_value:
        raise _fail(name, func, f"an integer >= {min_value}", value)
    if max_value is not None and value > max_value:
        raise _fail(name, func, f"an integer <= {max_value}", value)
    return int(value)


def check_float(value: Any, name: str, func: str, *, min_value: float | None = None, max_value: float | None = None,
                ) -> float:
    """Return ``value`` as a finite ``float`` within [min_value, max_value], else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise _fail(name, func, "a real number", value)
    if min_value is not None and value < min_value:
        raise _fail(name, func, f"a number >= {min_value}", value)
    if max_value is not None and value > max_value:
        raise _fail(name, func, f"a number <= {max_value}", value)
    return float(value)


def check_choice(value: Any, name: str, func: str, choices: Collection[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise listing the valid ones."""
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise _fail(name, func, f"one of {valid}", value)
    return value


def check_name(value: Any, name: str, func: str) -> str:
    """Return ``value`` if it is a safe name (:data:`NAME_PATTERN`, no ``..``) that may become a path, else raise.

    Examples
    --------
    >>> check_name("act-bench-mnist1d", "name", "f")
    'act-bench-mnist1d'
    """
    if not isinstance(value, str) or not NAME_PATTERN.match(value) or ".." in value:
        shown = value if not isinstance(value, str) or len(value) <= 80 else value[:80] + "…"
        raise _fail(name, func, "1-96 characters out of letters, digits, '_', '.', '-', starting with a letter or "
                    "digit, without '..' or a path separator", shown)
    return value


def expand_home(value: str | os.PathLike[str], name: str) -> Path:
    """``value`` as a ``Path`` with a leading ``~`` or ``~user`` expanded; a home folder that cannot be determined
    (``~nosuchuser``, no ``$HOME``) is an :class:`InvalidInputError` naming ``name``, not a ``RuntimeError``.

    Examples
    --------
    >>> expand_home("/tmp/x", "path").as_posix()
    '/tmp/x'
    """
    try:
        return Path(value).expanduser()
    except RuntimeError:
        text = os.fspath(value)
        user = str(text).split("/", 1)[0]
        raise InvalidInputError(f"{name} {text!r}: cannot expand {user!r} (no such user or home folder); give the "
                                f"full path") from None
