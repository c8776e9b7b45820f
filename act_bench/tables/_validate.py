"""The one validation layer of benchmark tables: run on construction and on every load, plus a deep ``verify``.

The fast checks are vectorised over columns (NumPy / pandas), so that loading stays cheap: accuracies in [0, 1] or
missing, losses finite or missing, runtimes finite and >= 0 or missing, function names in canonical form,
``equivalents`` listing the representative first and no function in two rows, runs consistent with the functions
(every run's function has a row, ``n_runs`` equals its number of runs, no (function, seed) twice, an ``ok`` run has
accuracies), FIM vectors matching the layout (``fim_valid`` rows finite), at least one row. The deep check
(:func:`validate_table` with ``deep=True``, ``act-bench ... --verify``) also recomputes every function's outputs on
the standard inputs and every listed equivalent's outputs, and compares them with the stored ones.

Every error is a :class:`~act_bench.errors.SchemaMismatchError` (an ``InvalidInputError``) naming the table, the
column and the first bad row.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from act_bench._validation import MAX_SEED
from act_bench.errors import InvalidInputError, SchemaMismatchError
from act_bench.space import get_spec, list_operators, parse  # the torch-free catalogue and parser
from act_bench.tables._schema import CURVE_COLUMNS, ESTIMATE_COLUMNS, ESTIMATE_FLOATS, METRICS, RunStatus

if TYPE_CHECKING:  # pragma: no cover
    from act_bench.tables._table import BenchmarkTable

__all__ = ["validate_names", "validate_table"]

_ACCURACIES = tuple(m for m in METRICS if m.endswith("accuracy"))
_LOSSES = tuple(m for m in METRICS if m.endswith("loss"))
# a canonical activation-function string: operator names, 'x', parentheses and commas, no whitespace
_TOKENS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[(),]")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _fail(where: str, column: str, row: int, name: Any, must: str, got: Any) -> SchemaMismatchError:
    label = f" ({_short(name)})" if name is not None else ""
    return SchemaMismatchError(f"{where}: column {column!r} row {row}{label} must be {must}; got {_short(got)}")


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _check_numbers(df: pd.DataFrame, where: str, names: list[Any]) -> None:
    for col in df.columns:
        if col in _ACCURACIES or col in _LOSSES or col == "runtime":
            a = df[col].to_numpy(dtype=np.float64)
            if col in _ACCURACIES:
                bad, must = ~(np.isnan(a) | ((a >= 0.0) & (a <= 1.0))), "an accuracy in [0, 1] or missing (NaN)"
            elif col in _LOSSES:
                bad, must = np.isinf(a), "a finite loss or missing (NaN)"
            else:
                bad, must = np.isinf(a) | (a < 0), "a finite runtime >= 0 or missing (NaN)"
            i = _first(bad)
            if i is not None:
                raise _fail(where, col, i, names[i], must, float(a[i]))


def _check_curves(r: pd.DataFrame, where: str, names: list[Any]) -> None:
    """Learning curves (one value per finished epoch; all four of a run the same length, empty when it never
    trained): accuracies in [0, 1], losses finite or missing (NaN: a non-finite evaluation loss), seconds finite,
    >= 0 and non-decreasing (time since the start of training)."""
    if not all(c in r.columns for c in CURVE_COLUMNS):
        return
    lengths = {c: np.fromiter((len(v) for v in r[c]), dtype=np.int64, count=len(r)) for c in CURVE_COLUMNS}
    first = CURVE_COLUMNS[-1]
    for c in CURVE_COLUMNS[:-1]:
        i = _first(lengths[c] != lengths[first])
        if i is not None:
            raise _fail(where, c, i, names[i], f"one value per epoch like {first!r} ({int(lengths[first][i])})",
                        f"{int(lengths[c][i])} values")
    if not lengths[first].sum():
        return
    owner = np.repeat(np.arange(len(r)), lengths[first])
    for c in CURVE_COLUMNS:
        a = np.concatenate([np.asarray(v, dtype=np.float64) for v in r[c]])
        if c == "curve_val_accuracy":
            bad, must = ~((a >= 0.0) & (a <= 1.0)), "accuracies in [0, 1]"
        elif c == "curve_seconds":
            step = np.diff(a, prepend=0.0)
            step[np.r_[0, np.cumsum(lengths[c])[:-1]][lengths[c] > 0]] = 0.0  # each run's first epoch
            bad, must = ~np.isfinite(a) | (a < 0) | (step < 0), "finite seconds >= 0 that never decrease"
        else:
            bad, must = np.isinf(a), "finite losses or missing (NaN)"
        j = _first(bad)
        if j is not None:
            i = int(owner[j])
            raise _fail(where, c, i, names[i], must, [float(v) for v in r[c].iloc[i]][:8])


def _check_estimates(f: pd.DataFrame, where: str, names: list[Any]) -> None:
    """All-run estimates: accuracies in [0, 1] or NaN, standard errors >= 0 or NaN, status counts adding up to
    ``n_runs``; ``twin_group`` naming an earlier-or-same row that is its own group's first row."""
    for col in ESTIMATE_FLOATS:
        a = f[col].to_numpy(dtype=np.float64)
        bad = ~(np.isnan(a) | ((a >= 0.0) & (a <= 1.0)))
        i = _first(bad)
        if i is not None:
            must = "a standard error in [0, 1] or NaN" if col.endswith("_se") else "an accuracy in [0, 1] or NaN"
            raise _fail(where, col, i, names[i], must, float(a[i]))
    total = sum(f[c].to_numpy(dtype=np.int64) for c in ESTIMATE_COLUMNS[:3])
    i = _first(total != f["n_runs"].to_numpy(dtype=np.int64))
    if i is not None:
        raise _fail(where, "n_ok", i, names[i], f"such that n_ok + n_diverged + n_failed = n_runs "
                    f"({int(f['n_runs'].iloc[i])})", int(total[i]))
    g = f["twin_group"].to_numpy(dtype=np.int64)
    rows = np.arange(len(g))
    bad = (g < 0) | (g > rows)
    if not bad.any():
        bad = g[g] != g
    i = _first(bad)
    if i is not None:
        raise _fail(where, "twin_group", i, names[i], "the row index of the first row of its twin group (<= its own "
                    "row, a row whose own twin_group is itself)", int(g[i]))


def _check_ok_has_accuracies(df: pd.DataFrame, where: str, names: list[Any]) -> None:
    no_acc = np.zeros(len(df), dtype=bool)
    for m in _ACCURACIES:
        no_acc |= np.isnan(df[m].to_numpy(dtype=np.float64))
    i = _first((df["status"].to_numpy(dtype=object) == RunStatus.OK.value) & no_acc)
    if i is not None:
        raise _fail(where, "status", i, names[i], "'failed' or 'diverged' when an accuracy is missing", "ok")




@lru_cache(maxsize=1)
def _operators() -> re.Pattern[str]:
    """One regex matching an innermost application ``op(x)``, ``op(x,x)``, ... with an argument count ``op``
    accepts (operators grouped by their accepted counts, up to 64 arguments)."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for name in list_operators():
        op = get_spec(name)
        counts = tuple(n for n in range(1, 65) if op.accepts(n))
        groups.setdefault(counts, []).append(name)
    parts = []
    for counts, names in groups.items():
        ops = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        contiguous = counts == tuple(range(counts[0], counts[-1] + 1))
        args = (f"x(?:,x){{{counts[0] - 1},{counts[-1] - 1}}}" if contiguous
                else "(?:" + "|".join(",".join(["x"] * n) for n in counts) + ")")
        parts.append(f"(?:{ops})\\({args}\\)")
    return re.compile(r"(?<![A-Za-z0-9_])(?:" + "|".join(parts) + ")")


def _canonical_mask(names: list[Any], ops: re.Pattern[str]) -> np.ndarray:
    """True where ``names[i]`` is a canonical activation-function string.

    Vectorised over the column: the names are joined into one text and every innermost application ``op(x,...)``
    (with an argument count the operator accepts) is replaced by ``x``, one nesting level per pass; a canonical
    name (no whitespace, known operators, right arities, balanced parentheses) ends as exactly ``x``.
    """
    strings = [n if isinstance(n, str) and "\n" not in n else "?" for n in names]
    text = "\n".join(strings)
    for _ in range(66):  # the parser's depth limit is 64
        text, hits = ops.subn("x", text)
        if not hits:
            break
    return np.asarray(text.split("\n"), dtype=object) == "x"


def _check_names(names: list[Any], column: str, where: str, row_of: list[int] | None, ops: re.Pattern[str] | None,
                 owners: list[Any], mask: np.ndarray | None = None) -> None:
    for bad in np.flatnonzero(~(_canonical_mask(names, ops or _operators()) if mask is None else mask)):
        row = int(bad) if row_of is None else row_of[bad]
        name = names[bad]
        try:
            canonical = str(parse(name))
        except (InvalidInputError, TypeError) as exc:
            raise SchemaMismatchError(f"{where}: column {column!r} row {row} ({_short(owners[row])}) is not an "
                                      f"activation function: {_short(str(exc), 160)}") from None
        if canonical != name:
            raise _fail(where, column, row, owners[row], f"in canonical form ({canonical!r})", name)
        # else: canonical but beyond the fast check's limits (more than 64 arguments or levels); the parser decides


def validate_table(table: BenchmarkTable, *, where: str | None = None, deep: bool = False) -> None:
    """Check ``table`` (see the module docstring); raise :class:`SchemaMismatchError` at the first problem.

    Parameters
    ----------
    table : BenchmarkTable
    where : str, optional
        How the error names the table (default: ``table <name>``).
    deep : bool, default False
        Also recompute the outputs of every function and of every listed equivalent on the standard inputs
        (seconds for thousands of functions) and compare them with the stored outputs (identical up to a few
        float32 ulps of evaluation-path noise, NaN == NaN, -0 == 0).

    Examples
    --------
    >>> from act_bench.tables import load_table
    >>> validate_table(load_table("tests/data/tiny-table"), deep=True)   # doctest: +SKIP
    """
    where = where or f"table {table.name!r}"
    f, r = table.functions, table.runs
    meta = table.metadata
    if len(f) == 0:
        raise SchemaMismatchError(f"{where}: the functions config has zero rows; a table holds at least one function")
    names = list(f["function"])
    # operator names and arities come from the torch-free operator catalogue of act_bench.space
    ops = _operators()
    eqs = f["equivalents"].tolist()
    lengths = np.fromiter((len(e) for e in eqs), dtype=np.int64, count=len(eqs))
    i = _first(lengths == 0)
    if i is not None:
        _check_names(names, "function", where, None, ops, names)
        raise _fail(where, "equivalents", i, names[i], "a list starting with the function itself", [])
    flat = [m for e in eqs for m in e]
    owner = np.repeat(np.arange(len(eqs)), lengths)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    firsts = np.asarray([flat[s] for s in starts], dtype=object)
    i = _first(firsts != np.asarray(names, dtype=object))
    if i is not None:
        _check_names(names, "function", where, None, ops, names)
        raise _fail(where, "equivalents", i, names[i], "a list starting with the function itself", eqs[i][:3])
    # every function is the first of its equivalents: one pass checks both columns
    good = _canonical_mask(flat, ops)
    if not good.all():
        _check_names([flat[s] for s in starts], "function", where, None, ops, names)
        _check_names(flat, "equivalents", where, owner.tolist(), None, names, good)
    dup = pd.Series(flat, dtype=object).duplicated().to_numpy()
    j = _first(dup)
    if j is not None:
        first_owner = int(owner[flat.index(flat[j])])
        raise _fail(where, "equivalents", int(owner[j]), names[int(owner[j])],
                    f"functions not listed by another row (row {first_owner} lists it too)", flat[j])
    _check_numbers(f, f"{where} functions", names)
    _check_ok_has_accuracies(f, where, names)
    n_runs = f["n_runs"].to_numpy()
    i = _first(n_runs < 0)
    if i is not None:
        raise _fail(where, "n_runs", i, names[i], "an integer >= 0", int(n_runs[i]))
    outputs = table.outputs_matrix()
    if outputs.size and np.isnan(outputs).all():
        raise SchemaMismatchError(f"{where}: column 'outputs' is NaN in every row; it holds each function's values on "
                                  f"the standard inputs (finite for relu(x) and most functions)")
    fim = table.fim_matrix()
    valid = f["fim_valid"].to_numpy(dtype=bool)
    if fim.shape[1]:
        # a non-finite value makes the row's dot product non-finite (BLAS: the fastest full pass); rows it flags,
        # which may also be finite rows whose sum overflows, are checked exactly
        flagged = np.flatnonzero(valid & ~np.isfinite(fim @ np.ones(fim.shape[1], dtype=fim.dtype)))
        bad_rows = flagged[~np.isfinite(fim[flagged]).all(axis=1)] if flagged.size else flagged
        i = int(bad_rows[0]) if bad_rows.size else None
    else:
        i = _first(valid)
    if i is not None:
        raise _fail(where, "fim_cdf", i, names[i], "a finite vector when fim_valid is true",
                    "an empty vector" if not fim.shape[1] else "non-finite values")
    layout_bins = sum(int(e["bins"]) for e in meta.get("fim_layout") or [])
    if meta.get("fim_layout") and fim.shape[1] and layout_bins != fim.shape[1]:
        raise SchemaMismatchError(f"{where}: column 'fim_cdf' has {fim.shape[1]} values per row but metadata "
                                  f"'fim_layout' has {layout_bins} bins")
    if len(r):
        rnames = r["function"].tolist()
        known = pd.Series(rnames, dtype=object).isin(set(names)).to_numpy()
        i = _first(~known)
        if i is not None:
            raise _fail(where + " runs", "function", i, None, "a function with a row in the functions config",
                        rnames[i])
        _check_numbers(r, f"{where} runs", rnames)
        seeds = r["seed"].to_numpy()
        i = _first((seeds < 0) | (seeds > MAX_SEED))
        if i is not None:
            raise _fail(where + " runs", "seed", i, rnames[i], f"an integer in [0, {MAX_SEED}]", int(seeds[i]))
        _check_curves(r, where + " runs", rnames)
        i = _first(r.duplicated(["function", "seed"]).to_numpy())
        if i is not None:
            raise _fail(where + " runs", "seed", i, rnames[i], "unique per function", int(r["seed"].iloc[i]))
        _check_ok_has_accuracies(r, where + " runs", rnames)
        counts = pd.Series(rnames, dtype=object).value_counts().reindex(names, fill_value=0).to_numpy()
        i = _first(counts != n_runs)
        if i is not None:
            raise _fail(where, "n_runs", i, names[i], f"its number of runs in the runs config ({int(counts[i])})",
                        int(n_runs[i]))
        status = r["status"].to_numpy(dtype=object)
        for col, st in (("n_ok", RunStatus.OK), ("n_diverged", RunStatus.DIVERGED), ("n_failed", RunStatus.FAILED)):
            sel = pd.Series([n for n, s in zip(rnames, status) if s == st.value], dtype=object)
            got = sel.value_counts().reindex(names, fill_value=0).to_numpy()
            i = _first(got != f[col].to_numpy())
            if i is not None:
                raise _fail(where, col, i, names[i], f"its number of {st.value!r} runs in the runs config "
                            f"({int(got[i])})", int(f[col].iloc[i]))
    _check_estimates(f, where, names)
    if deep:
        _verify_outputs(table, where, names, flat, owner)
        from act_bench.space import twin_groups  # evaluates every function: deep only

        g = twin_groups(names)
        i = _first(g != f["twin_group"].to_numpy())
        if i is not None:
            raise _fail(where, "twin_group", i, names[i], f"its recomputed twin group ({int(g[i])})",
                        int(f["twin_group"].iloc[i]))


#: Units in the last place that a recomputed output may differ by: the space's enumeration and ``evaluate_many``
#: compute some operators along different float32 paths (1 ulp seen, e.g. ``swish(min(x,x))`` at one input).
_ULPS = 4


def _same_outputs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise: equal up to :data:`_ULPS` float32 ulps, NaN == NaN, -0 == 0, infinities of one sign equal."""
    with np.errstate(invalid="ignore", over="ignore"):
        tol = _ULPS * np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(np.float32)).astype(np.float64)
        close = np.abs(a.astype(np.float64) - b.astype(np.float64)) <= tol
    return (a == b) | (np.isnan(a) & np.isnan(b)) | (np.isfinite(a) & np.isfinite(b) & close)


def _verify_outputs(table: BenchmarkTable, where: str, names: list[str], flat: list[str], owner: np.ndarray) -> None:
    from act_bench.space import evaluate_many

    stored = table.outputs_matrix()
    same = _same_outputs(stored, evaluate_many(names))
    i = _first(~same.all(axis=1))
    if i is not None:
        k = int(np.flatnonzero(~same[i])[0])
        computed = evaluate_many([names[i]])[0]
        raise SchemaMismatchError(f"{where}: column 'outputs' row {i} ({_short(names[i])}) does not hold the "
                                  f"function's outputs on the standard inputs (input {k}: stored "
                                  f"{float(stored[i, k])!r}, computed {float(computed[k])!r})")
    others = np.flatnonzero(np.asarray([flat[j] != names[owner[j]] for j in range(len(flat))], dtype=bool))
    if not others.size:
        return
    members = [flat[j] for j in others]
    rows = owner[others]
    ok = _same_outputs(evaluate_many(members), stored[rows]).all(axis=1)
    bad = _first(~ok)
    if bad is not None:
        row = int(rows[bad])
        raise SchemaMismatchError(f"{where}: column 'equivalents' row {row} ({_short(names[row])}) lists "
                                  f"{_short(members[bad])}, whose outputs on the standard inputs differ (not "
                                  f"equivalent: outputs must be identical, NaN == NaN, -0 == 0)")


def validate_names(table: BenchmarkTable, *, where: str | None = None) -> None:
    """Check that every function and equivalent of ``table`` is a canonical expression of known operators with the
    right number of arguments (the part of :func:`validate_table` that needs ``act_bench.space``)."""
    where = where or f"table {table.name!r}"
    names = list(table.functions["function"])
    flat = [m for e in table.functions["equivalents"].tolist() for m in e]
    owner = np.repeat(np.arange(len(names)), [len(e) for e in table.functions["equivalents"].tolist()])
    good = _canonical_mask(flat, _operators())
    if not good.all():
        _check_names(names, "function", where, None, None, names)
        _check_names(flat, "equivalents", where, owner.tolist(), None, names, good)
