"""Twin groups, all-run estimates, group rankings with ties and the noise figures, each against an independent
reference: brute-force pairwise twin checks, np.nextafter ulps, pandas group-bys, exhaustive split enumeration."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from act_bench.space import evaluate_many, twin_groups, twin_inputs
from act_bench.space._twins import TWIN_ATOL, TWIN_ULPS, ulp_distance
from act_bench.tables import BenchmarkTable, best_groups, group_ranking, load_table, top_groups
from act_bench.tables._estimates import run_estimates
from act_bench.tables._noise import noise_summary, split_half_jaccard

ROOT = Path(__file__).resolve().parents[1]


def _residual_pairs() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "space-residuals.txt").read_text()
    return [tuple(m.groups()) for m in re.finditer(r"^\s+(\S+)\s+~\s+(\S+)\s+max", text, re.MULTILINE)]


def test_ulp_distance_counts_the_floats_between_two_values():
    rng = np.random.default_rng(0)
    for a in rng.normal(scale=[1e-3, 1, 1e3], size=(20, 3)).ravel().astype(np.float32):
        b = a
        for k in range(6):
            assert ulp_distance(np.array([a]), np.array([b]))[0] == k
            b = np.nextafter(b, np.float32(np.inf), dtype=np.float32)
    # across zero: -tiny, -0, +0, +tiny
    tiny = np.float32(1e-45)
    assert ulp_distance(np.array([-tiny]), np.array([tiny]))[0] == 2
    assert ulp_distance(np.array([-0.0], np.float32), np.array([0.0], np.float32))[0] == 0


def _brute_groups(out: np.ndarray) -> np.ndarray:
    """Every pair compared on every input (no candidate search), union-find by smallest index."""
    n = len(out)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    fin = np.isfinite(out)
    for i, j in itertools.combinations(range(n), 2):
        a, b = out[i], out[j]
        if not np.array_equal(fin[i], fin[j]):
            continue
        nf = ~fin[i]
        if not all((x == y) or (np.isnan(x) and np.isnan(y)) for x, y in zip(a[nf], b[nf])):
            continue
        f = fin[i]
        close = (ulp_distance(a[f], b[f]) <= TWIN_ULPS) | ((np.abs(a[f]) <= TWIN_ATOL) & (np.abs(b[f]) <= TWIN_ATOL))
        if close.all():
            ri, rj = find(i), find(j)
            parent[max(ri, rj)] = min(ri, rj)
    roots = [find(i) for i in range(n)]
    first = {}
    return np.array([first.setdefault(r, i) for i, r in enumerate(roots)])


def test_twin_groups_equal_a_brute_force_pairwise_check():
    table = load_table("act-bench-mnist1d")
    names = table.functions["function"].tolist()
    rng = np.random.default_rng(1)
    pairs = [f for p in _residual_pairs() for f in p if f in set(names)]
    sample = list(dict.fromkeys(pairs + [names[i] for i in rng.choice(len(names), 60, replace=False)]))
    out = evaluate_many(sample, twin_inputs())
    assert twin_groups(sample, outputs=out).tolist() == _brute_groups(out).tolist()


def test_residual_pairs_are_twins_unless_they_differ_beyond_rounding_on_the_wide_grid():
    """docs/space-residuals.txt lists the classes within 4 ulps on the standard inputs; each is a twin pair, or the
    wide grid shows a point where the two differ by far more than rounding (a different function)."""
    pairs = _residual_pairs()
    assert len(pairs) == 95
    names = list(dict.fromkeys(f for p in pairs for f in p))
    groups = dict(zip(names, twin_groups(names)))
    split = []
    for a, b in pairs:
        if groups[a] != groups[b]:
            o = evaluate_many([a, b], twin_inputs())
            both = np.isfinite(o[0]) & np.isfinite(o[1])
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.abs(o[0] - o[1])[both] / np.maximum(np.abs(o[0]), np.abs(o[1]))[both]
            pattern = (np.isfinite(o[0]) != np.isfinite(o[1])).any()
            assert pattern or rel.max() > 1e-3, (a, b)
            split.append((a, b))
    assert len(split) < len(pairs) // 10, split  # almost every residual pair is one function
    assert groups["mul(identity(x),tanh(x))"] == groups["div(tanh(x),reciprocal(x))"]


def _runs_table() -> tuple[BenchmarkTable, pd.DataFrame]:
    rows = []
    acc = {"relu(x)": [.90, .91, .92, .93, .95], "mul(identity(x),tanh(x))": [.94, .95, .96],
           "div(tanh(x),reciprocal(x))": [.97, .93, .95], "elu(x)": [.95, .95, .95], "tanh(x)": [.1, .9, .91]}
    for f, values in acc.items():
        for s, v in enumerate(values):
            diverged = f == "tanh(x)" and s == 0
            rows.append({"function": f, "seed": s, "train_accuracy": v, "val_accuracy": v, "test_accuracy": v - .01,
                         "train_loss": .1, "val_loss": .1, "test_loss": .1, "runtime": 1.0,
                         "status": "diverged" if diverged else "ok"})
    runs = pd.DataFrame(rows)
    return BenchmarkTable.from_runs(runs, metadata={"name": "t", "build": {"seeds": [0, 1, 2]}},
                                    paper_seeds=[0, 1, 2]), runs


def test_estimates_and_paper_columns_match_pandas():
    table, runs = _runs_table()
    f = table.functions.set_index("function")
    paper = runs[runs.seed <= 2].groupby("function")["val_accuracy"].median()
    for name, g in runs.groupby("function"):
        assert f.loc[name, "val_accuracy"] == paper[name]
        assert f.loc[name, "n_runs"] == len(g)
        assert f.loc[name, "val_accuracy_mean"] == pytest.approx(g.val_accuracy.mean(), abs=1e-15)
        assert f.loc[name, "val_accuracy_median"] == g.val_accuracy.median()
        assert f.loc[name, "val_accuracy_se"] == pytest.approx(g.val_accuracy.std(ddof=1) / np.sqrt(len(g)))
        assert f.loc[name, "n_diverged"] == (g.status == "diverged").sum()
    est = run_estimates(["nothing(x)"], runs)
    assert est["n_ok"][0] == 0 and np.isnan(est["val_accuracy_mean"][0])


def test_group_ranking_pools_twins_counts_them_once_and_shows_ties():
    table, runs = _runs_table()
    r = group_ranking(table)
    assert len(r) == 4  # five rows, one twin pair
    twin = r[r["members"].map(len) == 2].iloc[0]
    pooled = runs[runs.function.isin(["mul(identity(x),tanh(x))", "div(tanh(x),reciprocal(x))"])]
    assert twin["paper"] == pooled.val_accuracy.median() and twin["n_runs"] == 6
    est = group_ranking(table, by="estimate")
    assert est.set_index("function").loc["relu(x)", "estimate"] == pytest.approx(np.mean([.90, .91, .92, .93, .95]))
    # paper values: twin 0.95, elu 0.95, relu 0.91, tanh 0.9 -> a tie at the top, competition ranks 1 1 3 4
    assert r["rank"].tolist() == [1, 1, 3, 4]
    best = best_groups(r)
    assert best.ties == 2 and best.describe().startswith("one of 2 at 0.95")
    assert len(top_groups(r, 0.01)) == 2  # ceil(0.04) = 1 group, plus its tie
    assert table.info()["best"]["ties"] == 2


def test_split_half_jaccard_matches_the_exact_mean_over_every_split():
    rng = np.random.default_rng(3)
    runs = [rng.normal(loc=m, scale=0.05, size=2) for m in np.linspace(0.5, 0.9, 8)]

    def top(v):
        thr = np.sort(v)[::-1][0]  # ceil(0.01 * 8) = 1
        return set(np.flatnonzero(v >= thr))

    exact = []
    for swaps in itertools.product([0, 1], repeat=len(runs)):
        a = np.array([x[s] for x, s in zip(runs, swaps)])
        b = np.array([x[1 - s] for x, s in zip(runs, swaps)])
        ta, tb = top(a), top(b)
        exact.append(len(ta & tb) / len(ta | tb))
    sampled = split_half_jaccard(runs, n_splits=4000, seed=0)
    assert abs(sampled.mean() - np.mean(exact)) < 4 * np.std(exact) / np.sqrt(4000) + 1e-9


def test_noise_summary_of_a_shipped_table_is_deterministic_and_sane():
    table = load_table("act-bench-mnist1d")
    a, b = noise_summary(table, n_splits=10), noise_summary(table, n_splits=10)
    assert a.to_dict() == b.to_dict()
    assert 0.9 < a.seed_rank_correlation <= 1
    lo, mid, hi = a.split_half_paper[1], a.split_half_paper[0], a.split_half_paper[2]
    assert 0 <= lo <= mid <= hi <= 1
