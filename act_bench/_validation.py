"""One helper for validating user input at the public edge (messages: "parameter X of F must be ...; got ...")."""

from __future__ import annotations

import numbers
from collections.abc import Collection
from typing import Any

from act_bench.errors import InvalidInputError

__all__ = ["check_int", "check_choice", "check_float", "InvalidInputError"]


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
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
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
