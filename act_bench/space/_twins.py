"""Twin groups: exact-output equivalence classes that are the same mathematical function up to float32 rounding.

The rows of a table are exact-output classes (the paper's rule): ``mul(identity(x),tanh(x))`` and
``div(tanh(x),reciprocal(x))`` are two rows because one output differs by one ulp. A twin group joins such rows so
that statistics (best function, top-k, overlaps, ranks) and searchers count the function once.

Criterion (:func:`are_twins`): on the 1,000 standard inputs and on the wide grid :func:`twin_inputs` (9,000 evenly
spaced points over [-30, 30]: ``k / 150`` for ``k != 0``, so every integer but zero), the two functions have the same non-finite values at the same inputs
(NaN equals NaN, infinities of the same sign) and their finite values differ by at most :data:`TWIN_ULPS` float32
units in the last place, or by at most :data:`TWIN_ATOL` where both are that close to zero (a sum that cancels to
about zero keeps only absolute accuracy). Groups are the connected components of the twin relation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from act_bench.space._enumerate import evaluate_many
from act_bench.space._evaluate import standard_inputs

__all__ = ["TWIN_ATOL", "TWIN_ULPS", "are_twins", "twin_groups", "twin_inputs", "ulp_distance"]

#: Largest distance in float32 ulps between the finite outputs of twins.
TWIN_ULPS = 4
#: Absolute tolerance near zero (values within it of each other and of zero agree).
TWIN_ATOL = 1e-6


def twin_inputs() -> np.ndarray:
    """The standard inputs followed by the 9,000 float32 points ``k / 150`` of [-30, 30] except zero (the integers
    are included exactly; zero is left out because expressions such as ``x / x`` are undefined there)."""
    k = np.arange(-4500, 4501)
    return np.concatenate([standard_inputs(), (k[k != 0] / 150.0).astype(np.float32)])


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise distance of float32 arrays in units in the last place (adjacent floats are 1 apart; -0 == 0)."""
    def ordered(v: np.ndarray) -> np.ndarray:
        i = np.ascontiguousarray(v, dtype=np.float32).view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)
    return np.abs(ordered(a) - ordered(b))


def _agree(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise: whether rows of ``b`` agree with row ``a`` (broadcast) at every input under the twin criterion."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    same_nonfinite = (fa == fb) & (fa | (a == b) | (np.isnan(a) & np.isnan(b)))
    aa, bb = np.where(fa & fb, a, 0).astype(np.float32), np.where(fa & fb, b, 0).astype(np.float32)
    close = (ulp_distance(np.broadcast_to(aa, bb.shape), bb) <= TWIN_ULPS) | (
        (np.abs(aa) <= TWIN_ATOL) & (np.abs(bb) <= TWIN_ATOL))
    return (same_nonfinite & close).all(axis=-1)


def are_twins(f: str, g: str) -> bool:
    """Whether ``f`` and ``g`` are twins (see the module docstring).

    Examples
    --------
    >>> are_twins("mul(identity(x),tanh(x))", "div(tanh(x),reciprocal(x))"), are_twins("relu(x)", "elu(x)")
    (True, False)
    """
    out = evaluate_many([f, g], twin_inputs())
    return bool(_agree(out[0], out[1:])[0])


def twin_groups(functions: Sequence[str], *, outputs: np.ndarray | None = None) -> np.ndarray:
    """The twin group of every function: the index (in ``functions``) of the first member of its group.

    ``outputs``: the functions' values on :func:`twin_inputs` (computed if not given). Candidates are found by
    sorting on a few inputs (twins agree there within the tolerance), then every candidate pair is checked on
    every input; groups are connected components.

    Examples
    --------
    >>> twin_groups(["relu(x)", "mul(identity(x),tanh(x))", "div(tanh(x),reciprocal(x))"]).tolist()
    [0, 1, 1]
    """
    functions = list(functions)
    n = len(functions)
    out = evaluate_many(functions, twin_inputs()) if outputs is None else np.asarray(outputs, dtype=np.float32)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    if n > 1:
        # a sort key twins share up to rounding: the non-finite pattern, then the rounded values at a few inputs
        probe = out[:, :8].astype(np.float64)
        pattern = np.packbits(~np.isfinite(out), axis=1)
        keys = [pattern[:, k] for k in range(pattern.shape[1])]
        order = np.lexsort([np.nan_to_num(probe[:, 0], nan=0.0, posinf=0.0, neginf=0.0)] + keys[::-1])
        # walk the order: within a block of one pattern, candidates are those whose first probe is within the
        # tolerance of the current one (sorted, so a window)
        tol = np.maximum(TWIN_ATOL, TWIN_ULPS * np.spacing(np.abs(probe[:, 0]).astype(np.float32)).astype(np.float64))
        for pos, i in enumerate(order):
            j_pos = pos + 1
            cands = []
            while j_pos < n:
                j = order[j_pos]
                if not np.array_equal(pattern[i], pattern[j]):
                    break
                pi, pj = probe[i, 0], probe[j, 0]
                if np.isfinite(pi) and np.isfinite(pj) and pj - pi > tol[i] + tol[j]:
                    break
                cands.append(j)
                j_pos += 1
            if cands:
                ok = np.asarray(cands)[_agree(out[i], out[cands])]
                for j in ok:
                    ri, rj = find(int(i)), find(int(j))
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([find(i) for i in range(n)])
    first = {}
    for i, r in enumerate(roots):
        first.setdefault(int(r), i)
    return np.array([first[int(r)] for r in roots], dtype=np.int64)
