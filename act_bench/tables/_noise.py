"""How much of a table is seed noise: the figures every dataset card and ``docs/suite.md`` state.

Units are twin groups (their runs pooled, see :mod:`act_bench.tables._ranking`); accuracies are validation
accuracies; a diverged run counts at its chance-level accuracy, a failed run not at all.

* ``seed_rank_correlation``: Spearman correlation between the accuracies of two paper seeds over the groups whose
  runs of both seeds are ``ok``, averaged over the seed pairs (0-1, 0-2, 1-2).
* ``se_median``: median standard error of a group's mean accuracy over the groups whose every run is ``ok``: those
  with the paper seeds only, and the contenders (groups with runs of seeds beyond the paper's: 10 runs per row).
* ``split_half``: the top-1 % agreement of two disjoint halves of the runs. In each of ``n_splits`` random splits
  every group's runs are shuffled and cut into two halves of ``floor(n / 2)`` runs each (``n`` its runs considered);
  each half ranks the groups by the mean of its runs and takes its top 1 % (ties included); the split's figure is the
  Jaccard index of the two top sets. ``paper``: the paper seeds only (halves of one run); ``all``: every run (halves
  of five runs for a contender). Mean and 95 % interval over the splits.
* ``seeds_needed``: the number of runs per contender at which the split-half Jaccard (simulated from the measured
  means and per-group standard deviations, normal noise) first reaches ``goal``; None if not within 80.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from act_bench.tables._ranking import TOP_FRACTION
from act_bench.tables._schema import RunStatus

__all__ = ["NoiseSummary", "noise_summary", "split_half_jaccard"]


def _groups(table) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per twin group: accuracies of its alive runs, their seeds, whether each is ok."""
    f, r = table.functions, table.runs
    group_of = dict(zip(f["function"], f["twin_group"]))
    r = r[r["status"] != RunStatus.FAILED.value]
    g = r["function"].map(group_of).to_numpy()
    acc = r["val_accuracy"].to_numpy(dtype=np.float64)
    seeds = r["seed"].to_numpy()
    ok = (r["status"] == RunStatus.OK.value).to_numpy()
    keep = ~np.isnan(acc)
    g, acc, seeds, ok = g[keep], acc[keep], seeds[keep], ok[keep]
    order = np.argsort(g, kind="stable")
    g, acc, seeds, ok = g[order], acc[order], seeds[order], ok[order]
    bounds = np.flatnonzero(np.diff(g)) + 1
    return np.split(acc, bounds), np.split(seeds, bounds), np.split(ok, bounds)


def _top(values: np.ndarray, fraction: float) -> np.ndarray:
    finite = np.isfinite(values)
    v = values[finite]
    if not v.size:
        return np.zeros(0, np.int64)
    k = max(1, math.ceil(fraction * v.size))
    thr = np.partition(v, v.size - k)[v.size - k]
    return np.flatnonzero(finite & (values >= thr))


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = set(a.tolist()), set(b.tolist())
    return len(sa & sb) / len(sa | sb) if sa | sb else math.nan


def _padded(runs: list[np.ndarray]) -> np.ndarray:
    width = max((len(x) for x in runs), default=0)
    out = np.full((len(runs), max(width, 1)), np.nan)
    for i, x in enumerate(runs):
        out[i, :len(x)] = x
    return out


def split_half_jaccard(runs: list[np.ndarray], *, n_splits: int = 200, fraction: float = TOP_FRACTION,
                       seed: int = 0) -> np.ndarray:
    """The split-half top-``fraction`` Jaccard of ``runs`` (one array of run accuracies per unit), one value per
    random split (see the module docstring)."""
    rng = np.random.default_rng(seed)
    x = _padded(runs)
    n = np.isfinite(x).sum(axis=1)
    h = n // 2
    cols = np.arange(x.shape[1])[None, :]
    out = np.empty(n_splits)
    for s in range(n_splits):
        # a random order of each unit's runs: sort random keys, runs beyond a unit's count last
        keys = np.where(np.isfinite(x), rng.random(x.shape), np.inf)
        order = np.argsort(keys, axis=1)
        xs = np.take_along_axis(x, order, axis=1)
        first, second = cols < h[:, None], (cols >= h[:, None]) & (cols < 2 * h[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.where(first, xs, 0).sum(axis=1) / h
            b = np.where(second, xs, 0).sum(axis=1) / h
        a[h == 0] = np.nan
        b[h == 0] = np.nan
        out[s] = _jaccard(_top(a, fraction), _top(b, fraction))
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if a.size > 2 else math.nan


@dataclass(frozen=True)
class NoiseSummary:
    """The noise figures of one table (see the module docstring)."""

    seed_rank_correlation: float
    se_median_3: float
    se_median_10: float
    groups_3: int
    groups_10: int
    split_half_paper: tuple[float, float, float]
    split_half_all: tuple[float, float, float]
    seeds_needed: int | None
    goal: float
    n_splits: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"seed_rank_correlation": self.seed_rank_correlation, "se_median_3": self.se_median_3,
                "se_median_10": self.se_median_10, "groups_3": self.groups_3, "groups_10": self.groups_10,
                "split_half_paper": list(self.split_half_paper), "split_half_all": list(self.split_half_all),
                "seeds_needed": self.seeds_needed, "goal": self.goal, "n_splits": self.n_splits}


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    v = values[np.isfinite(values)]
    if not v.size:
        return (math.nan, math.nan, math.nan)
    lo, hi = np.quantile(v, [0.025, 0.975])
    return (float(v.mean()), float(lo), float(hi))


def _seeds_needed(runs: list[np.ndarray], extended: list[bool], goal: float, *, seed: int,
                  n_splits: int = 40) -> int | None:
    """Runs per contender (``extended`` units; the others keep halves of one run) at which a simulated split-half
    Jaccard reaches ``goal``: each unit's half-means drawn from a normal with its measured mean and standard deviation
    (the median standard deviation of the contenders for the other units)."""
    rng = np.random.default_rng(seed)
    means = np.array([x.mean() for x in runs])
    contender = np.array(extended, dtype=bool)
    if not contender.any():
        return None
    sd_default = float(np.median([x.std(ddof=1) for x, c in zip(runs, contender) if c]))
    sds = np.array([x.std(ddof=1) if c else sd_default for x, c in zip(runs, contender)])
    for k in (10, 12, 16, 20, 24, 32, 40, 48, 64, 80):
        h = k // 2
        vals = np.empty(n_splits)
        for s in range(n_splits):
            # a half's mean of h runs ~ normal(mean, sd / sqrt(h)); others keep halves of one run
            hh = np.where(contender, h, 1)
            a = means + rng.standard_normal(len(runs)) * sds / np.sqrt(hh)
            b = means + rng.standard_normal(len(runs)) * sds / np.sqrt(hh)
            vals[s] = _jaccard(_top(a, TOP_FRACTION), _top(b, TOP_FRACTION))
        if vals.mean() >= goal:
            return k
    return None


def noise_summary(table, *, goal: float = 0.6, n_splits: int = 200, seed: int = 0) -> NoiseSummary:
    """The :class:`NoiseSummary` of ``table`` (deterministic for a given ``seed``).

    Examples
    --------
    >>> import act_bench
    >>> s = noise_summary(act_bench.load_table("act-bench-mnist1d"), n_splits=20)
    >>> 0.9 < s.seed_rank_correlation <= 1.0
    True
    """
    accs, seeds, oks = _groups(table)
    paper_seeds = list((table.metadata.get("build") or {}).get("seeds") or [0, 1, 2])
    # seed-to-seed rank correlation over groups whose two seeds are ok (a group's value for a seed: the mean of its
    # members' runs of that seed)
    cors = []
    for i, a in enumerate(paper_seeds):
        for b in paper_seeds[i + 1:]:
            xa, xb = [], []
            for acc, sd, ok in zip(accs, seeds, oks):
                ma, mb = (sd == a) & ok, (sd == b) & ok
                if ma.any() and mb.any():
                    xa.append(acc[ma].mean())
                    xb.append(acc[mb].mean())
            cors.append(_spearman(np.array(xa), np.array(xb)))
    extended = [bool((sd >= len(paper_seeds)).any()) for sd in seeds]  # a contender: runs beyond the paper seeds
    # over trained groups (every run ok): a group diverged in every run sits at chance with no spread
    se3 = [x.std(ddof=1) / np.sqrt(len(x)) for x, e, ok in zip(accs, extended, oks) if len(x) >= 2 and not e and ok.all()]
    se10 = [x.std(ddof=1) / np.sqrt(len(x)) for x, e, ok in zip(accs, extended, oks) if e and ok.all()]
    paper_runs = [acc[np.isin(sd, paper_seeds)] for acc, sd in zip(accs, seeds)]
    paper = split_half_jaccard(paper_runs, n_splits=n_splits, seed=seed)
    everything = split_half_jaccard(accs, n_splits=n_splits, seed=seed)
    return NoiseSummary(
        seed_rank_correlation=float(np.nanmean(cors)) if cors else math.nan,
        se_median_3=float(np.median(se3)) if se3 else math.nan,
        se_median_10=float(np.median(se10)) if se10 else math.nan,
        groups_3=len(se3), groups_10=len(se10),
        split_half_paper=_interval(paper), split_half_all=_interval(everything),
        seeds_needed=_seeds_needed(accs, extended, goal, seed=seed), goal=goal, n_splits=n_splits)

