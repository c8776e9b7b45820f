"""The default space's equivalence classes as shipped package data: a lookup that needs no torch.

``act_bench/space/data/default_space.json`` holds the equivalence classes of the paper's benchmark space
(``binary(unary(x),unary(x))``, 5,103 graphs) together with the 8 baseline functions, under both equality rules
(``signed_zero`` false: -0 == 0, true: the reference code's printed comparison), and for every class of the finer
rule (``signed_zero`` true) the summary of its float32 outputs on the standard inputs (finite everywhere, min, max).
It is written by ``python -m act_bench.space._make_lookup`` from the real enumeration, and a test recomputes it and
compares the bytes, so it cannot go stale.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_SPACE_FILE", "DEFAULT_SPACE_SCHEMA", "OutputSummary", "SpaceEntry", "lookup_default_space",
           "summarize_outputs"]

#: The schema of the default space (the paper's benchmark space); the lookup adds the baselines to it.
DEFAULT_SPACE_SCHEMA = "binary(unary(x),unary(x))"
#: The shipped lookup file.
DEFAULT_SPACE_FILE = Path(__file__).resolve().parent / "data" / "default_space.json"


@dataclass(frozen=True)
class OutputSummary:
    """Summary of a function's float32 outputs on the standard inputs.

    Attributes
    ----------
    finite : bool
        True if every output is finite.
    min, max : float
        Smallest and largest output ignoring NaN; NaN if every output is NaN.
    """

    finite: bool
    min: float
    max: float


def summarize_outputs(y: np.ndarray) -> OutputSummary:
    """The :class:`OutputSummary` of one row of outputs.

    Examples
    --------
    >>> summarize_outputs(np.array([0.0, np.nan, 2.5], dtype=np.float32))
    OutputSummary(finite=False, min=0.0, max=2.5)
    """
    finite = bool(np.isfinite(y).all())
    if np.isnan(y).all():
        return OutputSummary(finite, math.nan, math.nan)
    with np.errstate(all="ignore"):
        return OutputSummary(finite, float(np.nanmin(y)), float(np.nanmax(y)))


@dataclass(frozen=True)
class SpaceEntry:
    """What the lookup knows about one member of the default space.

    Attributes
    ----------
    representative : str
        Representative of its class (fewest nodes, then shortest, then lexicographic; a baseline wins).
    equivalents : tuple of str
        All members of its class, representative first.
    summary : OutputSummary
        Summary of its outputs on the standard inputs.
    """

    representative: str
    equivalents: tuple[str, ...]
    summary: OutputSummary


@lru_cache(maxsize=1)
def _load() -> dict:
    data = json.loads(DEFAULT_SPACE_FILE.read_text(encoding="utf-8"))
    index = {}
    for rule in ("signed_zero=false", "signed_zero=true"):
        index[rule] = {name: i for i, members in enumerate(data["classes"][rule]) for name in members}
    data["index"] = index
    return data


def lookup_default_space(canonical: str, *, signed_zero: bool = False) -> SpaceEntry | None:
    """The class of ``canonical`` in the default space plus the baselines, or ``None`` if it is not a member.

    ``canonical`` must be a canonical string (``str(parse(text))``). A function that is not literally a member (for
    example ``tanh(tanh(x))``) is not found here even if its outputs equal a member's: that needs evaluating it, which
    :func:`~act_bench.space.find_equivalents` does.

    Examples
    --------
    >>> entry = lookup_default_space("max(identity(x),zero(x))")
    >>> entry.representative, entry.summary.min
    ('relu(x)', 0.0)
    """
    data = _load()
    rule = "signed_zero=true" if signed_zero else "signed_zero=false"
    i = data["index"][rule].get(canonical)
    if i is None:
        return None
    members = data["classes"][rule][i]
    finite, lo, hi = data["summaries"][data["index"]["signed_zero=true"][canonical]]
    return SpaceEntry(members[0], tuple(members), OutputSummary(bool(finite), float(lo), float(hi)))
