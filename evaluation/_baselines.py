"""Fair baselines of a replay comparison: which random searches to run beside the surrogates, and the exact
distribution of random search's evaluations-to-target (order statistics, no simulation).

Random search as :class:`act_bench.search.RandomSearcher` runs it: the ``b`` baseline functions first, in order, then
uniform sampling without replacement from the pool (all functions, or the rows valid for a feature set, the same rows
a surrogate on that feature set chooses from). If a baseline reaches the target, the number of evaluations ``T`` is
fixed. Otherwise, with ``m`` pool functions left after the baselines of which ``h`` reach the target, the position
``J`` of the first hit in a uniformly random order satisfies ``P(J > j) = C(m - j, h) / C(m, h)`` (no hit among the
first ``j`` draws; hypergeometric), ``E[J] = (m + 1) / (h + 1)``, and ``T = b + J``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.search import RANDOM_POOLS, searcher_info

__all__ = ["QUANTILES", "EvalsDistribution", "exact_random_search", "fair_baselines", "fair_verdicts"]

#: Quantiles of the exact distribution reported beside its median and mean.
QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)


@dataclass(frozen=True)
class EvalsDistribution:
    """Exact distribution of the number of evaluations ``T`` random search needs to reach a target.

    Attributes
    ----------
    pmf : numpy.ndarray
        ``pmf[t - 1] = P(T = t)`` for ``t = 1 .. len(pmf)``; ``1 - pmf.sum()`` is the probability of never reaching
        it (the pool holds no hit).
    offset : int
        Evaluations counted before the random draws (the baselines), 0 for measures counted after them.
    pool_size : int
        ``m``: pool functions left to draw from after the baselines.
    hits : int
        ``h``: how many of them reach the target.
    """

    pmf: np.ndarray
    offset: int
    pool_size: int
    hits: int

    @property
    def never(self) -> float:
        """Probability of never reaching the target."""
        return float(max(0.0, 1.0 - self.pmf.sum()))

    @property
    def mean(self) -> float:
        """``E[T]`` (inf if the target may never be reached)."""
        if self.never > 1e-12:
            return math.inf
        return float(np.sum(np.arange(1, self.pmf.size + 1) * self.pmf))

    def cdf(self, t: float) -> float:
        """``P(T <= t)``."""
        k = int(min(max(math.floor(t), 0), self.pmf.size))
        return float(min(1.0, self.pmf[:k].sum()))

    def quantile(self, q: float) -> float:
        """Smallest ``t`` with ``P(T <= t) >= q`` (inf if there is none)."""
        cum = np.cumsum(self.pmf)
        idx = int(np.searchsorted(cum, q - 1e-12, side="left"))
        return float(idx + 1) if idx < cum.size else math.inf

    def summary(self, budget: int | None = None) -> dict[str, Any]:
        """JSON block: mean, median, quantiles, probability of reaching the target within ``budget``."""
        conv = lambda v: float(v) if math.isfinite(v) else None
        out: dict[str, Any] = {"mean": conv(self.mean), "median": conv(self.quantile(0.5)),
                               "quantiles": {f"{100 * q:g}%": conv(self.quantile(q)) for q in QUANTILES},
                               "pool_size": self.pool_size, "hits_in_pool": self.hits}
        if budget is not None:
            out["found_within_budget"] = self.cdf(budget)
        return out


def exact_random_search(hit: np.ndarray, first_rows: Sequence[int], pool: np.ndarray | None = None, *,
                        count_first: bool = True) -> EvalsDistribution:
    """Exact distribution of the evaluations random search needs until it evaluates a row of ``hit``.

    Parameters
    ----------
    hit : array of bool, shape (n,)
        Rows that reach the target (e.g. validation accuracy at least the top-1% threshold).
    first_rows : sequence of int
        Rows evaluated first, in order (the baselines that are candidates).
    pool : array of bool, shape (n,), optional
        Rows random search may draw from after them (default: all).
    count_first : bool, default=True
        Count the ``first_rows`` evaluations (``T = b + J``; a hit among them ends the search there). ``False``
        counts only the draws after them (``T = J``), e.g. "evaluations after the baselines until the best baseline
        is beaten", where no baseline is a hit.

    Examples
    --------
    >>> d = exact_random_search(np.array([False, False, True, False]), first_rows=[0])
    >>> d.pmf.round(6).tolist(), d.mean   # baseline first, then 1 hit among 3: T = 1 + U{1, 2, 3}
    ([0.0, 0.333333, 0.333333, 0.333333], 3.0)
    """
    hit = np.asarray(hit, dtype=bool)
    n = hit.size
    first = [int(r) for r in first_rows]
    if any(not 0 <= r < n for r in first) or len(set(first)) != len(first):
        raise InvalidInputError(f"first_rows must be distinct rows in [0, {n}); got {first}")
    pool = np.ones(n, dtype=bool) if pool is None else np.asarray(pool, dtype=bool)
    b = len(first)
    offset = b if count_first else 0
    for i, r in enumerate(first):
        if hit[r]:
            if not count_first:
                raise InvalidInputError("with count_first=False no first row may be a hit")
            pmf = np.zeros(i + 1)
            pmf[i] = 1.0
            return EvalsDistribution(pmf, offset, 0, 0)
    rest = pool.copy()
    rest[first] = False
    m = int(rest.sum())
    h = int((rest & hit).sum())
    pmf = np.zeros(offset + m)
    if h > 0:
        j = np.arange(0, m - h + 2)
        # survival S(j) = P(J > j) = prod_{i<j} (m - h - i) / (m - i), for j = 0 .. m - h + 1 (S(m - h + 1) = 0)
        ratios = np.clip((m - h - j[:-1]) / (m - j[:-1]), 0.0, None)
        surv = np.concatenate([[1.0], np.cumprod(ratios)])
        pmf[offset:offset + m - h + 1] = surv[:-1] - surv[1:]
    return EvalsDistribution(pmf, offset, m, h)


def fair_baselines(algorithms: Sequence[str]) -> list[str]:
    """Random searches to report beside ``algorithms``: ``random`` over all functions and, for every feature set
    some algorithm chooses from (its registry entry's declared ``features``), random search within that pool.

    Examples
    --------
    >>> fair_baselines(["knr:fim", "svr:both", "rfr:fim"])
    ['random', 'random:fim-valid', 'random:both-valid']
    """
    out = ["random"]
    for a in algorithms:
        feats = searcher_info(a).features
        if feats is not None:
            name = f"random:{RANDOM_POOLS[feats]}"
            if name not in out:
                out.append(name)
    return out


def fair_verdicts(algorithms: dict[str, Any], *, metric: str = "evals_to_top1pct") -> dict[str, list[str]]:
    """Which surrogates of a replay summary beat their fair baseline (random search over the pool their feature set
    chooses from, :func:`fair_baselines`) on ``metric``, an evaluations-to-target entry (fewer is better).

    ``algorithms`` is a summary's ``"algorithms"`` mapping (name -> entry with ``metric: {"ci95": [lo, hi]}``). A
    surrogate ``beats`` its baseline when its 95 % CI lies entirely below the baseline's, ``loses`` when entirely
    above, and is ``unresolved`` when the CIs overlap; a bound not reached within the budget counts as infinite.
    Algorithms without features, or whose baseline is not in the summary, are left out.

    Examples
    --------
    >>> ci = lambda lo, hi: {"evals_to_top1pct": {"ci95": [lo, hi]}}
    >>> fair_verdicts({"knr:fim": ci(10, 20), "random:fim-valid": ci(30, None)})
    {'beats': ['knr:fim'], 'loses': [], 'unresolved': []}
    """
    inf = float("inf")
    out: dict[str, list[str]] = {"beats": [], "loses": [], "unresolved": []}
    for name, entry in algorithms.items():
        try:
            info = searcher_info(name)
        except InvalidInputError:
            continue
        base = f"random:{RANDOM_POOLS[info.features]}" if info.features is not None else None
        if info.kind == "random" or base is None or base not in algorithms:
            continue
        lo, hi = (inf if v is None else v for v in entry[metric]["ci95"])
        blo, bhi = (inf if v is None else v for v in algorithms[base][metric]["ci95"])
        out["beats" if hi < blo else "loses" if lo > bhi else "unresolved"].append(name)
    return out
