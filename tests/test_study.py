"""Cross-table study (evaluation._study) and searcher warm starts, against brute-force and scipy references on small
synthetic tables with a known relation (B = A's accuracies noised, rows shuffled, some statuses changed)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from act_bench.search import CandidateSet, create_searcher, list_searchers, searcher_info
from evaluation import (
    WarmStart,
    align_tables,
    rank_correlations,
    replay,
    surrogate_transfer,
    top_functions,
    top_overlap,
)
from evaluation._synthetic import synthetic_table

TARGET = "add(sinh(x),erf(x))"   # an optimum far from the baselines, so the top 1 % is not found among them


@pytest.fixture(scope="module")
def pair():
    a = synthetic_table(120, seed=3, target=TARGET)
    rng = np.random.default_rng(1)
    b = a.sample(frac=1.0, random_state=2).reset_index(drop=True)   # same functions, other row order
    b["val_accuracy"] = np.clip(b["val_accuracy"] + 0.05 * rng.normal(size=len(b)), 0, 1)
    status = b["status"].to_numpy().copy()
    status[rng.choice(np.flatnonzero(status == "ok"), 10, replace=False)] = "diverged"
    b["status"] = status
    b = b.iloc[5:].reset_index(drop=True)                             # A has 5 functions B lacks
    return a, b


def _brute(a, b):
    va = dict(zip(a["function"], a["val_accuracy"]))
    sa = dict(zip(a["function"], a["status"]))
    vb = dict(zip(b["function"], b["val_accuracy"]))
    sb = dict(zip(b["function"], b["status"]))
    shared = [f for f in a["function"] if f in vb]
    return shared, va, sa, vb, sb


def test_alignment_and_correlations_match_scipy(pair):
    a, b = pair
    shared, va, sa, vb, sb = _brute(a, b)
    al = align_tables({"A": a, "B": b})
    assert al.functions == shared
    assert np.array_equal(al.accuracy[1], np.array([vb[f] for f in shared]), equal_nan=True)
    got = rank_correlations(al)["pairs"][0]
    both = [f for f in shared if np.isfinite(va[f]) and np.isfinite(vb[f])]
    x, y = [va[f] for f in both], [vb[f] for f in both]
    assert got["all"]["n"] == len(both)
    assert got["all"]["spearman"] == pytest.approx(spearmanr(x, y)[0], abs=1e-12)
    assert got["all"]["kendall"] == pytest.approx(kendalltau(x, y)[0], abs=1e-12)
    ok = [f for f in shared if sa[f] == "ok" and sb[f] == "ok" and np.isfinite(va[f]) and np.isfinite(vb[f])]
    assert got["ok"]["n"] == len(ok) < len(both)
    assert got["ok"]["spearman"] == pytest.approx(spearmanr([va[f] for f in ok], [vb[f] for f in ok])[0], abs=1e-12)
    assert got["ok"]["kendall"] == pytest.approx(kendalltau([va[f] for f in ok], [vb[f] for f in ok])[0], abs=1e-12)


def test_top_functions_ranks_by_counting(pair):
    a, b = pair
    shared, va, sa, vb, sb = _brute(a, b)
    top = top_functions({"A": a, "B": b}, k=4)
    for name, vals, stat in (("A", va, sa), ("B", vb, sb)):
        ok = [f for f in shared if stat[f] == "ok" and np.isfinite(vals[f])]
        expect = sorted(ok, key=lambda f: -vals[f])[:4]
        assert [t["function"] for t in top[name]] == expect
        for t in top[name]:
            for other, ov in (("A", va), ("B", vb)):
                v = ov[t["function"]]
                better = sum(1 for f in shared if np.isfinite(ov[f]) and ov[f] > v)
                assert t["rank"][other] == (better + 1 if np.isfinite(v) else None)


def test_top_overlap_against_python_sets(pair):
    a, b = pair
    shared, va, _, vb, _ = _brute(a, b)
    for frac in (0.01, 0.1):
        got = top_overlap({"A": a, "B": b}, frac)

        def top(vals, frac=frac):
            fin = sorted((vals[f] for f in shared if np.isfinite(vals[f])), reverse=True)
            thr = fin[max(1, int(np.ceil(frac * len(fin)))) - 1]
            return {f for f in shared if np.isfinite(vals[f]) and vals[f] >= thr}

        ta, tb = top(va), top(vb)
        assert got["sizes"] == {"A": len(ta), "B": len(tb)}
        assert got["pairs"][0]["shared"] == len(ta & tb)
        assert got["pairs"][0]["jaccard"] == pytest.approx(len(ta & tb) / len(ta | tb))
        assert set(got["in_all_functions"]) == ta & tb


def test_warm_start_is_not_an_evaluation_and_own_results_replace_priors():
    df = synthetic_table(60, seed=0)
    cs = CandidateSet.from_table(df)
    names = list(df["function"][:10])
    vals = [float(v) for v in df["val_accuracy"][:10]]
    s = create_searcher("knr:outputs", cs, seed=0, initial=(), embedding_seed=0)
    assert s.warm_start(names + ["not_an_op(x)"], vals + [0.5]) == 10
    assert s.n_told == 0 and s.n_prior == 10 and s.evaluated == [] and s.pending == []
    rows, _ = s.predict()
    assert set(cs.indices_of(names)) <= set(rows.tolist())          # priors do not block their functions
    # a prior later evaluated: its own value replaces the prior (same as a searcher told the true value as prior)
    t = create_searcher("knr:outputs", cs, seed=0, initial=names[:1], embedding_seed=0)
    t.warm_start(names, [0.0] + vals[1:])
    g = t.ask()[0]
    t.tell(g, 0.99)
    u = create_searcher("knr:outputs", cs, seed=0, initial=(), embedding_seed=0)
    u.warm_start(names, [0.99] + vals[1:])
    rt, pt = t.predict()
    ru, pu = u.predict()
    keep = np.isin(ru, rt)
    assert np.array_equal(rt, ru[keep]) and np.allclose(pt, pu[keep])
    with pytest.raises(Exception, match="before the first ask"):
        t.warm_start(names, vals)


def test_evolution_starts_from_the_best_priors():
    df = synthetic_table(60, seed=0)
    cs = CandidateSet.from_table(df)
    s = create_searcher("evolution", cs, seed=0, initial=(), population_size=5, sample_size=2)
    vals = np.asarray(df["val_accuracy"], dtype=float)
    s.warm_start(list(df["function"]), vals.tolist())
    best = sorted(range(len(vals)), key=lambda i: -np.nan_to_num(vals[i], nan=-np.inf))[:5]
    assert sorted(r for r, _ in s._population) == sorted(best)


def test_transfer_from_an_identical_table_equals_fitting_on_the_target(tmp_path):
    a = synthetic_table(80, seed=1)
    got = surrogate_transfer(a, a.copy(), algorithm="knr:outputs", n_points=(10, 30), seeds=3, n_maps=1,
                             cache_dir=tmp_path)
    for n in (10, 30):
        per = got["per_seed"][n]
        assert per["transfer"] == per["target"]
        assert all(r == pytest.approx(1.0) for r in per["direct"]["spearman"])   # the truth ranks itself
        # scored on the held-out functions only: precision@k against a brute-force top-k of the predictions is
        # covered by the identity above; more points never make the own-table fit worse on average here
    assert got["n_points"][10]["target"]["spearman"]["n"] == 3


def test_transfer_from_a_shuffled_table_is_worse_than_the_target(tmp_path):
    a = synthetic_table(120, seed=2)
    b = a.copy()
    rng = np.random.default_rng(0)
    b["val_accuracy"] = rng.permutation(a["val_accuracy"].to_numpy())   # landscape unrelated to A's
    got = surrogate_transfer(b, a, algorithm="knr:outputs", n_points=(40,), seeds=4, n_maps=1, cache_dir=tmp_path)
    m = got["n_points"][40]
    assert m["transfer"]["spearman"]["median"] < m["target"]["spearman"]["median"]


def test_warm_start_from_an_identical_table_is_no_slower(tmp_path):
    a = synthetic_table(150, seed=4, target=TARGET)
    got = replay(a.copy(), ["knr:outputs", "random"], budget=40, seeds=6, warm_start=WarmStart(a), checkpoints=(),
                 searcher_kwargs={"knr:outputs": {"n_maps": 1, "cache_dir": tmp_path}}).warm_start_summary()
    knr = got["algorithms"]["knr:outputs"]["per_seed"]
    inf = 10 ** 9
    warm = np.median([inf if v is None else v for v in knr["warm"]])
    cold = np.median([inf if v is None else v for v in knr["cold"]])
    assert warm <= cold and warm < inf
    # random search ignores priors: identical trajectories
    rnd = got["algorithms"]["random"]["per_seed"]
    assert rnd["warm"] == rnd["cold"]
    assert got["n_told"] == len(a)


@pytest.mark.parametrize("name", [n for n in list_searchers() if not n.startswith("my-")])
def test_every_searcher_accepts_a_warm_start(name, tmp_path):
    df = synthetic_table(40, seed=5)
    cs = CandidateSet.from_table(df)
    kw = {"embedding_seed": 0, "cache_dir": tmp_path} if searcher_info(name).uses_map else {}
    s = create_searcher(name, cs, seed=0, **kw)
    vals = np.asarray(df["val_accuracy"], dtype=float)
    assert s.warm_start(list(df["function"]), vals.tolist()) == len(df)
    seen = []
    for _ in range(12):
        g = s.ask()
        if not g:
            break
        seen.append(g[0].index)
        s.tell(g[0], float(vals[g[0].index]))
    assert len(seen) == len(set(seen)) == s.n_told and s.n_prior == len(df)   # priors blocked nothing
