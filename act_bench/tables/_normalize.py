"""Validated construction of a table's two configs from user data (names canonicalised, types checked, medians
computed from runs)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from act_bench.errors import InvalidInputError
from act_bench.space import parse
from act_bench.tables._estimates import fill_derived, run_estimates
from act_bench.tables._layout import normalize_layout
from act_bench.tables._schema import (
    CURVE_COLUMNS,
    ESTIMATE_COLUMNS,
    ESTIMATE_FLOATS,
    FUNCTIONS_COLUMNS,
    METRICS,
    N_OUTPUTS,
    OPTIONAL_COLUMNS,
    RUNS_COLUMNS,
    CdfLayout,
    RunStatus,
)

__all__ = ["FLOAT_COLUMNS", "STATUSES", "check_layout", "complete_functions", "is_null", "list_column",
           "medians_from_runs",
           "normalize_functions", "normalize_runs", "string_column", "strings"]

STATUSES = tuple(s.value for s in RunStatus)
FLOAT_COLUMNS = (*METRICS, "runtime")


# --- small helpers ------------------------------------------------------------------------------------------------

def _canonical(name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise InvalidInputError(f"{where}: a function must be a string; got {name!r}")
    try:
        return str(parse(name))
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _float(value: Any, where: str) -> float:
    if is_null(value):
        return math.nan
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{where} must be a number; got {value!r}")
    return float(value)


def _vector(value: Any, where: str, length: int | None = None) -> np.ndarray:
    if value is None:
        return np.zeros(0, dtype=np.float32)
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where} must be a list of numbers") from None
    if arr.ndim != 1:
        raise InvalidInputError(f"{where} must be one-dimensional; got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise InvalidInputError(f"{where} must have {length} values; got {arr.shape[0]}")
    return arr


def _curve(value: Any, where: str) -> list[float]:
    """A learning curve as a list of floats (None/NaN: no curve, an empty list)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidInputError(f"{where} must be a list of numbers; got {value!r}")
    return [_float(v, where) for v in value]


def _nanmedian(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else math.nan


def string_column(values: list[Any]) -> pd.Series:
    # object dtype keeps None for nulls (pandas >= 3 would otherwise infer a string dtype with NaN)
    return pd.Series(values, dtype=object)


def strings(values: Any) -> list[Any]:
    return [None if is_null(v) else v for v in values]


def list_column(rows: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        out[i] = row
    return out


# --- normalisation ---------------------------------------------------------------------------------------------

def _check_columns(df: Any, expected: tuple[str, ...], optional: tuple[str, ...], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"{what} must be a pandas DataFrame; got {type(df).__name__}")
    missing = [c for c in expected if c not in df.columns and c not in optional]
    if missing:
        raise InvalidInputError(f"{what} is missing column(s) {', '.join(map(repr, missing))}; expected columns "
                                f"{', '.join(expected)}")
    extra = [c for c in df.columns if c not in expected]
    if extra:
        raise InvalidInputError(f"{what} has unexpected column(s) {', '.join(map(repr, extra))}; expected "
                                f"columns {', '.join(expected)}")


def normalize_functions(df: pd.DataFrame, allow_duplicate_outputs: bool = False,
                        ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[list[str]]]:
    from act_bench.space import output_keys  # loads torch: on first use only

    _check_columns(df, FUNCTIONS_COLUMNS, OPTIONAL_COLUMNS["functions"], "functions")
    n = len(df)
    names, equivalents, seen = [], [], {}
    for i, (name, members) in enumerate(zip(df["function"], df["equivalents"])):
        name = _canonical(name, f"functions row {i} column 'function'")
        if name in seen:
            raise InvalidInputError(f"functions rows {seen[name]} and {i}: function {name!r} appears twice")
        seen[name] = i
        if members is None or isinstance(members, str) or not hasattr(members, "__iter__"):
            raise InvalidInputError(f"functions row {i} ({name!r}) column 'equivalents' must be a list of strings; "
                                    f"got {members!r}")
        canon = [name] + [_canonical(m, f"functions row {i} ({name!r}) column 'equivalents'") for m in members]
        equivalents.append(list(dict.fromkeys(canon)))
        names.append(name)
    owner: dict[str, int] = {}
    for i, members in enumerate(equivalents):
        for m in members:
            if owner.setdefault(m, i) != i:
                raise InvalidInputError(f"functions rows {owner[m]} and {i} both list {m!r} among their equivalents")
    cols: dict[str, Any] = {"function": names, "equivalents": list_column(equivalents)}
    for c in FLOAT_COLUMNS:
        cols[c] = np.array([_float(v, f"functions row {i} column {c!r}") for i, v in enumerate(df[c])],
                           dtype=np.float64)
    statuses = []
    for i, s in enumerate(df["status"]):
        s = s.value if isinstance(s, RunStatus) else s
        if s not in STATUSES:
            raise InvalidInputError(f"functions row {i} column 'status' must be one of {', '.join(STATUSES)}; "
                                    f"got {s!r}")
        statuses.append(s)
    cols["status"] = statuses
    n_runs = []
    for i, v in enumerate(df["n_runs"]):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise InvalidInputError(f"functions row {i} column 'n_runs' must be an integer >= 0; got {v!r}")
        n_runs.append(int(v))
    cols["n_runs"] = np.array(n_runs, dtype=np.int32)
    for c in (*ESTIMATE_COLUMNS[:3], "twin_group"):
        if c in df.columns:
            values = []
            for i, v in enumerate(df[c]):
                if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                    raise InvalidInputError(f"functions row {i} column {c!r} must be an integer >= 0; got {v!r}")
                values.append(int(v))
            cols[c] = np.array(values, dtype=np.int32)
    for c in ESTIMATE_FLOATS:
        if c in df.columns:
            cols[c] = np.array([_float(v, f"functions row {i} column {c!r}") for i, v in enumerate(df[c])],
                               dtype=np.float64)
    valid = []
    for i, v in enumerate(df["fim_valid"]):
        if not isinstance(v, (bool, np.bool_)):
            raise InvalidInputError(f"functions row {i} column 'fim_valid' must be a bool; got {v!r}")
        valid.append(bool(v))
    reasons = []
    for i, (v, r) in enumerate(zip(valid, df["fim_reason"])):
        r = None if is_null(r) else r
        if r is not None and not isinstance(r, str):
            raise InvalidInputError(f"functions row {i} column 'fim_reason' must be a string or null; got {r!r}")
        if v and r is not None:
            raise InvalidInputError(f"functions row {i} ({names[i]!r}): 'fim_reason' must be null when fim_valid "
                                    f"is true; got {r!r}")
        reasons.append(r)
    cols["fim_valid"] = np.array(valid, dtype=bool)
    cols["fim_reason"] = string_column(reasons)
    cdfs = [_vector(v, f"functions row {i} ({names[i]!r}) column 'fim_cdf'") for i, v in enumerate(df["fim_cdf"])]
    dims = sorted({c.shape[0] for c in cdfs} - {0})
    if len(dims) > 1:
        first = next(i for i, c in enumerate(cdfs) if c.shape[0] == dims[0])
        other = next(i for i, c in enumerate(cdfs) if c.shape[0] == dims[1])
        raise InvalidInputError(f"column 'fim_cdf': rows must all have the same length (or be empty); row {first} "
                                f"({names[first]!r}) has {dims[0]} values, row {other} ({names[other]!r}) has "
                                f"{dims[1]}")
    d = dims[0] if dims else 0
    fim = np.full((n, d), np.nan, dtype=np.float32)
    for i, c in enumerate(cdfs):
        if c.shape[0]:
            fim[i] = c
        if valid[i] and not (c.shape[0] and np.isfinite(c).all()):
            raise InvalidInputError(f"functions row {i} ({names[i]!r}): fim_valid is true but 'fim_cdf' is empty or "
                                    f"not finite")
    outputs = np.empty((n, N_OUTPUTS), dtype=np.float32)
    for i, v in enumerate(df["outputs"]):
        outputs[i] = _vector(v, f"functions row {i} ({names[i]!r}) column 'outputs'", N_OUTPUTS)
    duplicates: list[list[str]] = []
    if n:
        keys = output_keys(outputs)
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        for cls in np.nonzero(counts > 1)[0]:
            rows = np.nonzero(inverse.reshape(-1) == cls)[0]
            if not allow_duplicate_outputs:
                i, j = rows[:2]
                raise InvalidInputError(f"functions rows {i} ({names[i]!r}) and {j} ({names[j]!r}) have identical "
                                        f"outputs on the standard inputs; a table holds one row per unique function "
                                        f"(list one as an equivalent of the other)")
            duplicates.append([names[i] for i in rows])
    cols["fim_cdf"] = list_column([fim[i] if cdfs[i].shape[0] else np.zeros(0, np.float32) for i in range(n)])
    cols["outputs"] = list_column(list(outputs))
    return (pd.DataFrame(cols, columns=[c for c in FUNCTIONS_COLUMNS if c in cols]), fim, outputs,
            sorted(duplicates))


def complete_functions(functions: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``functions`` with its derived columns (all-run estimates, twin groups) filled where absent, in
    :data:`FUNCTIONS_COLUMNS` order."""
    return fill_derived(functions, runs)[list(FUNCTIONS_COLUMNS)]


def normalize_runs(df: pd.DataFrame | None, known: set[str] | None) -> pd.DataFrame:
    if df is None:
        df = pd.DataFrame({c: [] for c in RUNS_COLUMNS})
    _check_columns(df, RUNS_COLUMNS, ("error", *OPTIONAL_COLUMNS["runs"]), "runs")
    names = []
    cache: dict[Any, str] = {}
    for i, name in enumerate(df["function"]):
        canon = cache.get(name) if isinstance(name, str) else None
        if canon is None:
            canon = _canonical(name, f"runs row {i} column 'function'")
            cache[name] = canon
        if known is not None and canon not in known:
            raise InvalidInputError(f"runs row {i}: function {canon!r} has no row in the functions config")
        names.append(canon)
    seeds = []
    for i, s in enumerate(df["seed"]):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise InvalidInputError(f"runs row {i} column 'seed' must be an integer; got {s!r}")
        seeds.append(int(s))
    cols: dict[str, Any] = {"function": names, "seed": np.array(seeds, dtype=np.int64)}
    for c in FLOAT_COLUMNS:
        cols[c] = np.array([_float(v, f"runs row {i} column {c!r}") for i, v in enumerate(df[c])], dtype=np.float64)
    statuses = []
    for i, s in enumerate(df["status"]):
        s = s.value if isinstance(s, RunStatus) else s
        if s not in STATUSES:
            raise InvalidInputError(f"runs row {i} column 'status' must be one of {', '.join(STATUSES)}; got {s!r}")
        if s == RunStatus.OK.value:
            bad = [m for m in METRICS if math.isnan(cols[m][i]) and m.endswith("accuracy")]
            if bad:
                raise InvalidInputError(f"runs row {i} ({names[i]!r}, seed {seeds[i]}): status is 'ok' but "
                                        f"{bad[0]} is NaN; use status 'failed' or 'diverged'")
        statuses.append(s)
    cols["status"] = statuses
    errors = list(df["error"]) if "error" in df.columns else [None] * len(df)
    for i, e in enumerate(errors):
        if is_null(e):
            errors[i] = None
        elif not isinstance(e, str):
            raise InvalidInputError(f"runs row {i} column 'error' must be a string or null; got {e!r}")
    cols["error"] = string_column(errors)
    for c in CURVE_COLUMNS:
        values = list(df[c]) if c in df.columns else [None] * len(df)
        cols[c] = list_column([_curve(v, f"runs row {i} column {c!r}") for i, v in enumerate(values)])
    flags = list(df["eval_loss_nonfinite"]) if "eval_loss_nonfinite" in df.columns else [False] * len(df)
    for i, v in enumerate(flags):
        if not isinstance(v, (bool, np.bool_)):
            raise InvalidInputError(f"runs row {i} column 'eval_loss_nonfinite' must be a bool; got {v!r}")
    cols["eval_loss_nonfinite"] = np.array(flags, dtype=bool)
    out = pd.DataFrame(cols, columns=list(RUNS_COLUMNS))
    dup = out.duplicated(["function", "seed"])
    if dup.any():
        i = int(np.argmax(dup.to_numpy()))
        raise InvalidInputError(f"runs row {i}: function {names[i]!r} with seed {seeds[i]} appears twice")
    return out


def normalize_features(features: Any, names: set[str]) -> dict[str, dict[str, Any]]:
    if features is None:
        return {}
    allowed = {"equivalents", "fim_cdf", "fim_valid", "fim_reason", "outputs"}
    if isinstance(features, pd.DataFrame):
        if "function" not in features.columns:
            raise InvalidInputError("features must have a 'function' column")
        records = {row["function"]: {k: v for k, v in row.items() if k != "function"}
                   for row in features.to_dict("records")}
    elif isinstance(features, Mapping):
        records = dict(features)
    else:
        raise InvalidInputError(f"features must be a pandas DataFrame or a dict keyed by function; "
                                f"got {type(features).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for key, rec in records.items():
        name = _canonical(key, "features")
        if name not in names:
            raise InvalidInputError(f"features given for {name!r}, which has no runs")
        if not isinstance(rec, Mapping):
            raise InvalidInputError(f"features[{name!r}] must be a mapping of column -> value")
        extra = set(rec) - allowed
        if extra:
            raise InvalidInputError(f"features[{name!r}] has unexpected key(s) {sorted(extra)}; allowed: "
                                    f"{sorted(allowed)}")
        rec = {k: (None if isinstance(v, float) and is_null(v) else v) for k, v in rec.items()}  # NaN = absent
        if rec.get("equivalents") is not None:
            rec["equivalents"] = [name] + list(rec["equivalents"])
        out[name] = rec
    return out


def check_layout(meta: dict[str, Any], dims: int) -> None:
    layout = meta.get("fim_layout") or []
    if meta.get("fim_cdf_layout") not in ("act-bench", "upstream"):
        raise InvalidInputError(f"metadata 'fim_cdf_layout' must be 'act-bench' or 'upstream'; "
                                f"got {meta.get('fim_cdf_layout')!r}")
    if not layout:
        meta["fim_layout"] = []
        return
    if hasattr(layout, "rows") and not isinstance(layout, Mapping):  # act_bench.features.FeatureLayout
        layout = list(layout.rows)
    layers = normalize_layout(layout, where="metadata 'fim_layout'")
    cdf_layout = CdfLayout(meta["fim_cdf_layout"])
    entries = []
    for e, raw in zip(layers, layout):
        bins = raw.get("bins") if isinstance(raw, Mapping) else getattr(raw, "bins", None)
        bins = cdf_layout.bins(e["weights"]) if bins is None else int(bins)
        entries.append({**e, "bins": bins})
    total = sum(e["bins"] for e in entries)
    if dims and total != dims:
        raise InvalidInputError(f"metadata 'fim_layout' has {total} bins in all but the fim_cdf vectors have {dims} "
                                f"values")
    meta["fim_layout"] = entries


# --- from runs ---------------------------------------------------------------------------------------------------

def medians_from_runs(runs: pd.DataFrame, features: Any,
                      paper_seeds: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``functions`` rows (medians over each function's runs of ``paper_seeds``, all-run estimates over every
    run; see ``BenchmarkTable.from_runs``) and the normalised ``runs`` of a table built from runs."""
    runs_df = normalize_runs(runs, None)
    all_runs = runs_df
    if paper_seeds is not None:
        runs_df = runs_df[runs_df["seed"].isin([int(s) for s in paper_seeds])].reset_index(drop=True)
    names = list(dict.fromkeys(runs_df["function"]))
    feats = normalize_features(features, set(names))
    groups = runs_df.groupby("function", sort=False).indices
    rows: dict[str, list[Any]] = {c: [] for c in FUNCTIONS_COLUMNS}
    status_arr = runs_df["status"].to_numpy()
    values = {c: runs_df[c].to_numpy(dtype=np.float64) for c in FLOAT_COLUMNS}
    for name in names:
        idx = groups[name]
        status = status_arr[idx]
        alive = idx[status != RunStatus.FAILED.value]
        n_ok = int((status == RunStatus.OK.value).sum())
        n_div = int((status == RunStatus.DIVERGED.value).sum())
        rows["function"].append(name)
        feat = feats.get(name, {})
        rows["equivalents"].append(feat.get("equivalents") or [name])
        for m in METRICS:
            rows[m].append(_nanmedian(values[m][alive]))
        rows["runtime"].append(_nanmedian(values["runtime"][idx]))
        rows["status"].append(RunStatus.FAILED.value if alive.size == 0
                              else RunStatus.DIVERGED.value if n_div and n_div >= n_ok else RunStatus.OK.value)
        rows["n_runs"].append(0)  # counted over every run below
        cdf = feat.get("fim_cdf")
        cdf = _vector(cdf, f"features[{name!r}].fim_cdf")
        valid = feat.get("fim_valid")
        if valid is None:
            valid = bool(cdf.size and np.isfinite(cdf).all())
        reason = feat.get("fim_reason")
        if not valid and reason is None:
            reason = "no FIM features" if cdf.size == 0 else "FIM CDF has non-finite values"
        rows["fim_valid"].append(bool(valid))
        rows["fim_reason"].append(None if valid else reason)
        rows["fim_cdf"].append(cdf)
        rows["outputs"].append(feat.get("outputs"))
    missing = [i for i, o in enumerate(rows["outputs"]) if o is None]
    if missing:
        from act_bench.space import evaluate_many  # loads torch: on first use only

        computed = evaluate_many([names[i] for i in missing])
        for j, i in enumerate(missing):
            rows["outputs"][i] = computed[j]
    est = run_estimates(names, all_runs)
    rows["n_runs"] = list(est["n_ok"] + est["n_diverged"] + est["n_failed"])
    for c in ESTIMATE_COLUMNS:
        rows[c] = est[c]
    functions = pd.DataFrame({c: list_column(rows[c]) if c in ("equivalents", "fim_cdf", "outputs")
                              else rows[c] for c in FUNCTIONS_COLUMNS if c != "twin_group"})
    return complete_functions(functions, all_runs), all_runs
