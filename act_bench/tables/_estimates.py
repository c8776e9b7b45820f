"""All-run estimates and twin groups of a table's functions (the columns beside the paper's).

The paper's columns of a function (``val_accuracy`` ...) are medians over the paper's seeds (0-2) and never change.
The all-run estimates use every run of the function in the ``runs`` config (contenders carry 10): status counts, and
the mean, median and standard error of the mean of the validation and test accuracy over the runs that did not fail
(a diverged run counts at its chance-level accuracy, as in the paper's medians). The best estimate of a function's
accuracy is its all-run mean (``val_accuracy_mean``).

A function without runs in the ``runs`` config (an upstream table stores medians only) repeats its paper median as
its estimates (mean = median, standard error NaN) and counts all its ``n_runs`` under its status.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from act_bench.tables._schema import ESTIMATE_COLUMNS, RunStatus

__all__ = ["best_estimate", "fill_derived", "run_estimates", "twin_column"]


def run_estimates(names: list[str], runs: pd.DataFrame) -> dict[str, np.ndarray]:
    """The :data:`~act_bench.tables.ESTIMATE_COLUMNS` of ``names`` from ``runs`` (functions without runs get zero
    counts and NaN)."""
    n = len(names)
    out: dict[str, np.ndarray] = {c: np.zeros(n, np.int32) for c in ESTIMATE_COLUMNS[:3]}
    out.update({c: np.full(n, np.nan) for c in ESTIMATE_COLUMNS[3:]})
    if not len(runs):
        return out
    index = {f: i for i, f in enumerate(names)}
    groups = runs.groupby("function", sort=False).indices
    status = runs["status"].to_numpy()
    acc = {m: runs[m].to_numpy(dtype=np.float64) for m in ("val_accuracy", "test_accuracy")}
    for f, idx in groups.items():
        i = index.get(f)
        if i is None:
            continue
        st = status[idx]
        out["n_ok"][i] = int((st == RunStatus.OK.value).sum())
        out["n_diverged"][i] = int((st == RunStatus.DIVERGED.value).sum())
        out["n_failed"][i] = int((st == RunStatus.FAILED.value).sum())
        alive = idx[st != RunStatus.FAILED.value]
        for m, values in acc.items():
            v = values[alive]
            v = v[~np.isnan(v)]
            if v.size:
                out[f"{m}_mean"][i] = float(v.mean())
                out[f"{m}_median"][i] = float(np.median(v))
                out[f"{m}_se"][i] = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else np.nan
    return out


def twin_column(names: list[str]) -> np.ndarray:
    """``twin_group`` of ``names`` (see :func:`act_bench.space.twin_groups`)."""
    if not names:
        return np.zeros(0, np.int32)
    from act_bench.errors import InvalidInputError
    from act_bench.space import twin_groups  # evaluates the functions: torch, on first use only

    try:
        return twin_groups(names).astype(np.int32)
    except InvalidInputError:  # a name that does not parse: every row its own group; validation names the row
        return np.arange(len(names), dtype=np.int32)


def fill_derived(functions: pd.DataFrame, runs: pd.DataFrame, *, twin: np.ndarray | None = None) -> pd.DataFrame:
    """``functions`` with every missing estimate column derived from ``runs`` (or from the paper columns for a
    function without runs) and ``twin_group`` computed if missing; columns present are kept as they are."""
    missing = [c for c in ESTIMATE_COLUMNS if c not in functions.columns]
    out = functions.copy() if missing or "twin_group" not in functions.columns else functions
    names = list(out["function"])
    if missing:
        est = run_estimates(names, runs)
        has_runs = np.zeros(len(names), bool)
        if len(runs):
            has_runs = pd.Series(names).isin(set(runs["function"])).to_numpy()
        for c in ESTIMATE_COLUMNS:
            if c in missing:
                out[c] = est[c]
        status = out["status"].to_numpy()
        n_runs = out["n_runs"].to_numpy(dtype=np.int32)
        for c, st in (("n_ok", RunStatus.OK), ("n_diverged", RunStatus.DIVERGED), ("n_failed", RunStatus.FAILED)):
            if c in missing:
                out[c] = np.where(has_runs, out[c], np.where(status == st.value, n_runs, 0)).astype(np.int32)
        for m in ("val_accuracy", "test_accuracy"):
            paper = out[m].to_numpy(dtype=np.float64)
            for suffix in ("mean", "median"):
                if f"{m}_{suffix}" in missing:
                    out[f"{m}_{suffix}"] = np.where(has_runs, out[f"{m}_{suffix}"], paper)
    if "twin_group" not in out.columns:
        out["twin_group"] = twin_column(names) if twin is None else np.asarray(twin, np.int32)
    return out


def best_estimate(functions: pd.DataFrame, metric: str = "val_accuracy") -> np.ndarray:
    """The best estimate of ``metric`` per function: the all-run mean (``<metric>_mean``), else the paper median."""
    col = f"{metric}_mean"
    if col in functions.columns:
        return functions[col].to_numpy(dtype=np.float64)
    return functions[metric].to_numpy(dtype=np.float64)
