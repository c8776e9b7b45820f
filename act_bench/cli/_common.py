"""Shared CLI helpers: one-line errors with exit code 2, JSON/human output."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from act_bench.errors import InvalidInputError

__all__ = ["ArgumentParser", "emit", "UsageError", "positive_int", "nonnegative_int", "to_jsonable"]

UsageError = InvalidInputError


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error message on stderr and exit code 2 (no usage dump, no traceback)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def _int_type(min_value: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {min_value}, got {text!r}") from None
        if value < min_value:
            raise argparse.ArgumentTypeError(f"expected an integer >= {min_value}, got {text!r}")
        return value

    return parse


positive_int = _int_type(1)
nonnegative_int = _int_type(0)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into plain JSON (NaN/inf become null)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def emit(result: dict[str, Any], as_json: bool, human: str | None = None) -> None:
    """Print ``result`` as one JSON document (``--json``) or the human-readable text ``human``."""
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result), allow_nan=False) + "\n")
    else:
        if human is None:
            human = "\n".join(f"{k}: {v}" for k, v in to_jsonable(result).items())
        sys.stdout.write(human.rstrip("\n") + "\n")
