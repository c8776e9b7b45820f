"""Rankings of a table's functions that count a twin group once and show ties: the one definition of "best
function", "top 1 %" and "rank" that tables, cards, docs and the demo use.

A twin group (rows that are one mathematical function up to float32 rounding, column ``twin_group``) is one entry.
Its runs are the runs of all its rows, pooled:

* ``paper`` value: the median of the pooled runs of the paper's seeds (the paper's protocol applied to the function;
  a group of one row has exactly its row's ``val_accuracy``), with the paper's status rule;
* ``estimate`` value: the mean of every pooled run that did not fail (the table's best estimate; for a row without
  runs in the ``runs`` config, its ``<metric>_mean`` column).

Top fraction ``q`` (:func:`top_groups`): with ``n`` ranked groups (those with a finite value), the groups whose value
reaches the ``ceil(q n)``-th largest value; ties at the threshold are all included, so the set may hold more than
``ceil(q n)`` groups. Ranks are competition ranks ("1224"): a group's rank is one plus the number of groups with a
strictly larger value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from act_bench.errors import InvalidInputError
from act_bench.tables._schema import RunStatus

__all__ = ["TOP_FRACTION", "BestGroups", "best_groups", "group_ranking", "top_groups"]

#: The top fraction a benchmark is scored at (the paper's "top 1 %").
TOP_FRACTION = 0.01

#: Values of :func:`group_ranking`'s ``by``.
BY = ("paper", "estimate")


def _pool(functions: pd.DataFrame, runs: pd.DataFrame, metric: str, paper_seeds) -> pd.DataFrame:
    groups = functions["twin_group"].to_numpy()
    names = functions["function"].to_numpy()
    group_of = dict(zip(names, groups))
    n = len(functions)
    paper = np.full(n, np.nan)
    est = np.full(n, np.nan)
    n_runs = np.zeros(n, np.int64)
    status = np.array([RunStatus.FAILED.value] * n, dtype=object)
    members: dict[int, list[str]] = {}
    for name, g in zip(names, groups):
        members.setdefault(int(g), []).append(str(name))
    have = set()
    if len(runs):
        r = runs[runs["function"].isin(group_of)]
        g_of_run = r["function"].map(group_of).to_numpy()
        st = r["status"].to_numpy()
        vals = r[metric].to_numpy(dtype=np.float64)
        seeds = r["seed"].to_numpy()
        in_paper = np.isin(seeds, list(paper_seeds)) if paper_seeds is not None else np.ones(len(r), bool)
        alive_all = (st != RunStatus.FAILED.value) & ~np.isnan(vals)
        # each group's runs in table order (a stable sort by group), so every median and mean sees its values in the
        # same order as a boolean selection would give them
        order = np.argsort(g_of_run, kind="stable")
        uniq, starts = np.unique(g_of_run[order], return_index=True)
        for g, a, b in zip(uniq, starts, np.r_[starts[1:], len(order)]):
            at = order[a:b]
            v, alive, in_p = vals[at], alive_all[at], in_paper[at]
            p = alive & in_p
            n_runs[g] = int(b - a)
            if p.any():
                paper[g] = float(np.median(v[p]))
            if alive.any():
                est[g] = float(v[alive].mean())
            ps = st[at][in_p]
            n_ok, n_div = int((ps == RunStatus.OK.value).sum()), int((ps == RunStatus.DIVERGED.value).sum())
            status[g] = (RunStatus.FAILED.value if n_ok + n_div == 0 else
                         RunStatus.DIVERGED.value if n_div and n_div >= n_ok else RunStatus.OK.value)
            have.add(int(g))
    rows = sorted(members)
    idx = np.array(rows, dtype=np.int64)
    out = pd.DataFrame({"twin_group": idx, "function": names[idx] if n else [],
                        "members": [members[g] for g in rows]})
    # groups without runs in the runs config: their representative row's columns
    mean_col = f"{metric}_mean" if f"{metric}_mean" in functions.columns else metric
    fallback = ~np.isin(idx, list(have))
    p_vals, e_vals = paper[idx], est[idx]
    p_vals[fallback] = functions[metric].to_numpy(dtype=np.float64)[idx[fallback]]
    e_vals[fallback] = functions[mean_col].to_numpy(dtype=np.float64)[idx[fallback]]
    st_vals = status[idx]
    st_vals[fallback] = functions["status"].to_numpy()[idx[fallback]]
    nr = n_runs[idx]
    nr[fallback] = functions["n_runs"].to_numpy()[idx[fallback]]
    out["paper"], out["estimate"], out["status"], out["n_runs"] = p_vals, e_vals, st_vals, nr
    return out


def group_ranking(table, metric: str = "val_accuracy", *, by: str = "paper") -> pd.DataFrame:
    """One row per twin group, best first: ``twin_group``, ``function`` (the group's first row), ``members``,
    ``paper``, ``estimate``, ``status``, ``n_runs``, ``value`` (the ``by`` column) and ``rank`` (competition rank
    among the groups with a finite value; NaN otherwise).

    ``table``: a :class:`~act_bench.tables.BenchmarkTable`. ``by``: ``"paper"`` (median of the pooled paper-seed
    runs) or ``"estimate"`` (mean of every pooled run).

    Examples
    --------
    >>> import act_bench
    >>> r = group_ranking(act_bench.load_table("act-bench-mnist1d"))
    >>> int(r["rank"].iloc[0]), bool(r["value"].is_monotonic_decreasing)
    (1, True)
    """
    if by not in BY:
        raise InvalidInputError(f"parameter by of group_ranking must be one of {', '.join(BY)}; got {by!r}")
    seeds = ((table.metadata.get("build") or {}).get("seeds")) if isinstance(table.metadata, dict) else None
    pooled = _pool(table.functions, table.runs, metric, seeds)
    pooled["value"] = pooled[by]
    pooled = pooled.sort_values(["value", "twin_group"], ascending=[False, True], na_position="last",
                                kind="mergesort").reset_index(drop=True)
    v = pooled["value"].to_numpy(dtype=np.float64)
    finite = np.isfinite(v)
    fv = v[finite]
    # competition rank: 1 + number of strictly larger values (fv is sorted descending)
    ranks = np.full(v.size, np.nan)
    ranks[finite] = 1 + np.searchsorted(-fv, -fv, side="left")
    pooled["rank"] = ranks
    return pooled


def top_groups(ranking: pd.DataFrame, fraction: float = TOP_FRACTION) -> pd.DataFrame:
    """The top ``fraction`` of a :func:`group_ranking` (ties at the threshold included); see the module docstring."""
    v = ranking["value"].to_numpy(dtype=np.float64)
    finite = v[np.isfinite(v)]
    if not finite.size:
        return ranking.iloc[:0]
    k = max(1, math.ceil(fraction * finite.size))
    threshold = np.sort(finite)[::-1][k - 1]
    return ranking[np.isfinite(v) & (v >= threshold)]


@dataclass(frozen=True)
class BestGroups:
    """The best twin group(s) of a table: ``value``, the tied groups' first rows (``functions``) and their count."""

    value: float
    functions: list[str]

    @property
    def ties(self) -> int:
        return len(self.functions)

    def describe(self, digits: int = 2) -> str:
        """``"f (0.96)"`` or ``"one of 18 at 0.98 (f, g, ...)"``."""
        shown = ", ".join(f"`{f}`" for f in self.functions[:3]) + (", ..." if self.ties > 3 else "")
        if self.ties == 1:
            return f"`{self.functions[0]}` ({self.value:.{digits}f})"
        return f"one of {self.ties} at {self.value:.{digits}f} ({shown})"


def best_groups(ranking: pd.DataFrame, *, ok_only: bool = True) -> BestGroups | None:
    """The groups tied at the best value of a :func:`group_ranking` (``ok_only``: among ``ok`` groups)."""
    r = ranking[ranking["status"] == RunStatus.OK.value] if ok_only else ranking
    r = r[np.isfinite(r["value"].to_numpy(dtype=np.float64))]
    if not len(r):
        return None
    best = float(r["value"].iloc[0])
    tied = r[r["value"] == best]
    return BestGroups(best, [str(f) for f in tied["function"]])
