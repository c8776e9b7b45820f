"""The fast regressors inside the surrogate searchers against scikit-learn, and the argmax rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from sklearn.tree import DecisionTreeRegressor

from act_bench.search import CandidateSet, Embedding, RandomForestSurrogate, SurrogateSearcher
from act_bench.search._forest import bootstrap_counts, fit_predict_forest
from act_bench.search._surrogate import _fit_svr


def _cloud(n, m, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = np.sin(X[:, 0]) + 0.3 * X[:, 1] + 0.05 * rng.normal(size=n)
    P = rng.normal(size=(m, 2)) * 1.5
    return X, y, P


def _sse(y, w):
    return float(np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2)) if np.sum(w) > 0 else 0.0


def _best_split_sse(X, y, w):
    """Brute force: smallest children SSE over every feature and every threshold between distinct values."""
    best = np.inf
    for f in range(X.shape[1]):
        vals = np.unique(X[:, f])
        for a, b in itertools.pairwise(vals):
            left = X[:, f] <= (a + b) / 2
            best = min(best, _sse(y[left], w[left]) + _sse(y[~left], w[~left]))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tree_is_greedy_cart_checked_by_brute_force(seed):
    """At every node the chosen split minimises the children's weighted SSE; leaves are pure (fully grown)."""
    from act_bench.search._forest import _tree_arrays

    X, y, _ = _cloud(35, 1, seed)
    w = np.random.default_rng(seed).integers(0, 3, size=35).astype(float)
    feat, thr, left, right, value = _tree_arrays(X, y, w)
    keep = w > 0
    members = {0: np.flatnonzero(keep)}
    n_internal = 0
    for node in range(len(feat)):
        idx = members[node]
        if left[node] < 0:
            assert np.ptp(y[idx]) < 1e-12 or len(np.unique(X[idx], axis=0)) == 1
            assert value[node] == pytest.approx(np.sum(w[idx] * y[idx]) / np.sum(w[idx]))
            continue
        n_internal += 1
        go_left = X[idx, feat[node]] <= thr[node]
        members[left[node]], members[right[node]] = idx[go_left], idx[~go_left]
        chosen = _sse(y[idx][go_left], w[idx][go_left]) + _sse(y[idx][~go_left], w[idx][~go_left])
        assert chosen == pytest.approx(_best_split_sse(X[idx], y[idx], w[idx]), rel=1e-9, abs=1e-12)
    assert n_internal >= 10


@pytest.mark.parametrize("bootstrap", [False, True])
def test_tree_equals_sklearn_when_splits_cannot_tie(bootstrap):
    """With one informative feature (the other constant) there are no ties between features: identical to sklearn."""
    rng = np.random.default_rng(7)
    X = np.column_stack([rng.normal(size=80), np.zeros(80)])
    y = np.sin(3 * X[:, 0]) + 0.1 * rng.normal(size=80)
    P = np.column_stack([rng.normal(size=400) * 1.5, rng.normal(size=400)])
    forest = RandomForestSurrogate(n_estimators=5, bootstrap=bootstrap, random_state=1).fit(X, y)
    ref = np.mean([DecisionTreeRegressor(random_state=0).fit(X, y, sample_weight=c).predict(P)
                   for c in forest.counts_], axis=0)
    np.testing.assert_allclose(forest.predict(P), ref, rtol=0, atol=1e-12)
    # the one-call fit+predict of the searcher gives the same numbers for the same bootstrap draws
    if bootstrap:
        fast = fit_predict_forest(X, y, P, n_estimators=5, rng=np.random.default_rng(1))
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)


def test_bootstrap_counts_are_n_draws_per_tree():
    c = bootstrap_counts(30, 5, np.random.default_rng(0))
    assert c.shape == (5, 30)
    np.testing.assert_array_equal(c.sum(axis=1), 30)


def test_svr_fast_path_equals_public_svr():
    X, y, P = _cloud(50, 200, 5)
    gamma = 1.0 / (2 * X.var())
    sv, coef, b = _fit_svr(X, y, C=1.0, epsilon=0.1, gamma=gamma)
    d2 = ((P[:, None, :] - X[None, sv, :]) ** 2).sum(-1)
    ours = np.exp(-gamma * d2) @ coef + b
    ref = SVR().fit(X, y).predict(P)   # gamma="scale" is 1 / (n_features * X.var())
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)


def _searcher(regressor, n=300, seed=0, **kw):
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(n)]
    coords = rng.normal(size=(n, 2)) * 3
    cs = CandidateSet(names, outputs=np.zeros((n, 1), np.float32))
    emb = Embedding(rows=np.arange(n), coords=coords, features="both", seed=0, key="test")
    s = SurrogateSearcher(cs, regressor=regressor, features="both", seed=seed, initial=(), embedding=emb, **kw)
    truth = np.sin(coords[:, 0]) + np.cos(coords[:, 1])
    return s, coords, truth


@pytest.mark.parametrize("regressor,reference", [
    ("knr", lambda: KNeighborsRegressor(n_neighbors=3)),
    # z-scored targets, predictions mapped back (standardize=True)
    ("svr", lambda: TransformedTargetRegressor(SVR(), transformer=StandardScaler())),
])
def test_surrogate_predictions_match_sklearn_and_argmax_is_taken(regressor, reference):
    s, coords, truth = _searcher(regressor)
    for step in range(40):
        g = s.ask()[0]
        if step >= 5:
            rows, pred = s.predict()
            told = np.array(s.evaluated)
            ref = reference().fit(coords[told], truth[told]).predict(coords[rows])
            np.testing.assert_allclose(pred, ref, rtol=1e-9, atol=1e-9)
            # the suggestion (made before this predict call, same fit) has the highest prediction among the open rows
            open_rows = np.concatenate([rows, [g.index]])
            full = reference().fit(coords[told], truth[told]).predict(coords[open_rows])
            assert full[-1] >= full.max() - 1e-9
        s.tell(g, truth[g.index])


def test_forest_searcher_picks_its_own_argmax():
    s, _, truth = _searcher("rfr", n_estimators=10)
    for _ in range(8):
        g = s.ask()[0]
        s.tell(g, truth[g.index])
    rows, pred = s.predict()          # fit on the 8 results (cached for the next ask)
    g = s.ask()[0]
    assert pred[rows == g.index][0] == pytest.approx(pred.max())


def test_gpr_searcher_runs_and_prefers_high_mean():
    s, _, truth = _searcher("gpr", n=120)
    for _ in range(15):
        g = s.ask()[0]
        s.tell(g, truth[g.index])
    rows, pred = s.predict()
    assert np.corrcoef(pred, truth[rows])[0, 1] > 0.3   # a smooth target is learnt from 15 points


def test_failed_results_are_imputed_with_worst_value():
    s, _, _ = _searcher("knr", n=50)
    g1, g2 = s.ask(2)
    s.tell(g1, 0.7)
    s.tell(g2, float("nan"))
    _, pred = s.predict()
    assert np.isfinite(pred).all() and pred.max() <= 0.7 and pred.min() >= 0.7 - 1e-12
