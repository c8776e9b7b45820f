"""A small, fast random-forest regressor (bagged CART trees, squared error) compiled with numba.

It reproduces scikit-learn's ``RandomForestRegressor`` with its defaults (bootstrap samples of size n, all features
considered at every split, fully grown trees, split thresholds at midpoints, MSE criterion), but builds and applies
all trees in one compiled call: the surrogate search refits a forest on at most a few hundred 2-D points at every
step and predicts thousands of candidates, where scikit-learn's per-tree Python and joblib overhead dominates.
Each tree equals ``DecisionTreeRegressor().fit(X, y, sample_weight=bootstrap_counts)`` up to ties between equally
good splits (tested against scikit-learn).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from sklearn.base import BaseEstimator, RegressorMixin

from act_bench._validation import check_int
from act_bench.errors import InvalidInputError

__all__ = ["RandomForestSurrogate", "fit_predict_forest"]

_EPS = float(np.finfo(np.float64).eps)


@njit(cache=True, nogil=True)
def _build_tree(X, y, w, idx, feat, thr, left, right, value, P, pool, buf, out):  # pragma: no cover - compiled
    """Grow one tree on the points ``idx`` (weights ``w``); returns the number of nodes.

    If ``pool`` is non-empty (a permutation of rows of ``P``), the rows of ``P`` are routed down with the training
    points (each split partitions them, branch-free) and every leaf adds its value to ``out`` at its rows: the tree
    is applied to ``P`` while it is built, touching each row once per level it passes, with no node lookups.
    """
    n = idx.shape[0]
    n_features = X.shape[1]
    # stack of (start, end, node) over a working permutation of idx
    order = idx.copy()
    stack_s = np.empty(2 * n + 2, np.int64)
    stack_e = np.empty(2 * n + 2, np.int64)
    stack_n = np.empty(2 * n + 2, np.int64)
    stack_ps = np.empty(2 * n + 2, np.int64)
    stack_pe = np.empty(2 * n + 2, np.int64)
    stack_ps[0] = 0
    stack_pe[0] = pool.shape[0]
    use_pool = pool.shape[0] > 0
    stack_s[0] = 0
    stack_e[0] = n
    stack_n[0] = 0
    top = 1
    n_nodes = 1
    keys = np.empty(n, np.float64)
    tmp = np.empty(n, np.int64)
    best_order = np.empty(n, np.int64)
    while top > 0:
        top -= 1
        s = stack_s[top]
        e = stack_e[top]
        node = stack_n[top]
        ps = stack_ps[top]
        pe = stack_pe[top]
        sw = 0.0
        swy = 0.0
        swyy = 0.0
        for k in range(s, e):
            i = order[k]
            sw += w[i]
            swy += w[i] * y[i]
            swyy += w[i] * y[i] * y[i]
        mean = swy / sw
        value[node] = mean
        impurity = swyy / sw - mean * mean
        left[node] = -1
        right[node] = -1
        feat[node] = -1
        if e - s < 2 or impurity <= _EPS:
            if use_pool:
                for k in range(ps, pe):
                    out[pool[k]] += mean
            continue
        best = -np.inf
        best_f = -1
        best_pos = -1
        best_thr = 0.0
        for f in range(n_features):
            m = e - s
            for k in range(m):
                keys[k] = X[order[s + k], f]
            perm = np.argsort(keys[:m], kind="mergesort")
            for k in range(m):
                tmp[k] = order[s + perm[k]]
            lw = 0.0
            lwy = 0.0
            for k in range(m - 1):
                i = tmp[k]
                lw += w[i]
                lwy += w[i] * y[i]
                a = X[i, f]
                b = X[tmp[k + 1], f]
                if b <= a + 1e-7:  # scikit-learn's FEATURE_THRESHOLD: no split between (almost) equal values
                    continue
                rw = sw - lw
                rwy = swy - lwy
                proxy = lwy * lwy / lw + rwy * rwy / rw
                if proxy > best:
                    best = proxy
                    best_f = f
                    best_pos = k + 1
                    t = a / 2.0 + b / 2.0
                    if t == b or t == np.inf or t == -np.inf:
                        t = a
                    best_thr = t
            if best_f == f:
                for k in range(m):
                    best_order[k] = tmp[k]
        if best_f < 0:
            if use_pool:
                for k in range(ps, pe):
                    out[pool[k]] += mean
            continue
        p_mid = ps
        if use_pool:
            nl = 0
            nr = 0
            for k in range(ps, pe):
                i = pool[k]
                go = P[i, best_f] <= best_thr
                pool[ps + nl] = i       # safe: ps + nl <= k, the entry was already read
                buf[nr] = i
                nl += go
                nr += 1 - go
            for k in range(nr):
                pool[ps + nl + k] = buf[k]
            p_mid = ps + nl
        for k in range(e - s):
            order[s + k] = best_order[k]
        feat[node] = best_f
        thr[node] = best_thr
        l_node = n_nodes
        r_node = n_nodes + 1
        n_nodes += 2
        left[node] = l_node
        right[node] = r_node
        stack_s[top] = s + best_pos
        stack_e[top] = e
        stack_n[top] = r_node
        stack_ps[top] = p_mid
        stack_pe[top] = pe
        top += 1
        stack_s[top] = s
        stack_e[top] = s + best_pos
        stack_n[top] = l_node
        stack_ps[top] = ps
        stack_pe[top] = p_mid
        top += 1
    return n_nodes


@njit(cache=True, nogil=True)
def _positive_indices(w):  # pragma: no cover - compiled
    """Indices of the samples with positive weight (those in the tree's bootstrap sample)."""
    k = 0
    for i in range(w.shape[0]):
        if w[i] > 0:
            k += 1
    idx = np.empty(k, np.int64)
    k = 0
    for i in range(w.shape[0]):
        if w[i] > 0:
            idx[k] = i
            k += 1
    return idx


@njit(cache=True, nogil=True)
def _forest_fit_predict(X, y, counts, P):  # pragma: no cover - compiled
    """Mean prediction on ``P`` of trees grown on ``X, y`` with per-tree sample weights ``counts[t]``."""
    n_trees = counts.shape[0]
    n = X.shape[0]
    m = P.shape[0]
    out = np.zeros(m, np.float64)
    max_nodes = 2 * n + 1
    feat = np.empty(max_nodes, np.int64)
    thr = np.empty(max_nodes, np.float64)
    left = np.empty(max_nodes, np.int64)
    right = np.empty(max_nodes, np.int64)
    value = np.empty(max_nodes, np.float64)
    w = np.empty(n, np.float64)
    pool = np.empty(m, np.int64)
    buf = np.empty(m, np.int64)
    for t in range(n_trees):
        for i in range(n):
            w[i] = counts[t, i]
        idx = _positive_indices(w)
        for p in range(m):
            pool[p] = p
        _build_tree(X, y, w, idx, feat, thr, left, right, value, P, pool, buf, out)
    for p in range(m):
        out[p] /= n_trees
    return out


@njit(cache=True, nogil=True)
def _tree_arrays(X, y, w):  # pragma: no cover - compiled
    n = X.shape[0]
    max_nodes = 2 * n + 1
    feat = np.empty(max_nodes, np.int64)
    thr = np.empty(max_nodes, np.float64)
    left = np.empty(max_nodes, np.int64)
    right = np.empty(max_nodes, np.int64)
    value = np.empty(max_nodes, np.float64)
    idx = _positive_indices(w)
    none = np.empty(0, np.int64)
    k = _build_tree(X, y, w, idx, feat, thr, left, right, value, X, none, none, np.empty(0, np.float64))
    return feat[:k], thr[:k], left[:k], right[:k], value[:k]


def bootstrap_counts(n_samples: int, n_estimators: int, rng: np.random.Generator) -> np.ndarray:
    """Per-tree bootstrap multiplicities, shape (n_estimators, n_samples): n draws with replacement per tree."""
    draws = rng.integers(0, n_samples, size=(n_estimators, n_samples))
    counts = np.zeros((n_estimators, n_samples), dtype=np.float64)
    np.add.at(counts, (np.arange(n_estimators)[:, None], draws), 1.0)
    return counts


def fit_predict_forest(X: np.ndarray, y: np.ndarray, P: np.ndarray, *, n_estimators: int,
                       rng: np.random.Generator, bootstrap: bool = True) -> np.ndarray:
    """Fit a forest on ``(X, y)`` and return its mean prediction on ``P`` (one compiled call)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    P = np.ascontiguousarray(P, dtype=np.float64)
    if bootstrap:
        counts = bootstrap_counts(X.shape[0], n_estimators, rng)
    else:
        counts = np.ones((n_estimators, X.shape[0]), dtype=np.float64)
    return _forest_fit_predict(X, y, counts, P)


class RandomForestSurrogate(RegressorMixin, BaseEstimator):
    """Random-forest regressor (scikit-learn compatible ``fit``/``predict``) for low-dimensional surrogates.

    Parameters
    ----------
    n_estimators : int, default=100
        Number of trees.
    bootstrap : bool, default=True
        Grow each tree on a bootstrap sample (weights = draw counts); otherwise on all points.
    random_state : int, default=0
        Seed of the bootstrap draws.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]); y = np.array([0.0, 1.0, 2.0])
    >>> RandomForestSurrogate(n_estimators=1, bootstrap=False).fit(X, y).predict(np.array([[1.9, 0.0]]))
    array([2.])
    """

    def __init__(self, *, n_estimators: int = 100, bootstrap: bool = True, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.bootstrap = bootstrap
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> RandomForestSurrogate:
        n_est = check_int(self.n_estimators, "n_estimators", "RandomForestSurrogate", min_value=1)
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        if X.ndim != 2 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
            raise InvalidInputError(f"RandomForestSurrogate.fit needs X of shape (n>0, d) and y of shape (n,); got "
                                    f"{X.shape} and {y.shape}")
        rng = np.random.default_rng(self.random_state)
        counts = (bootstrap_counts(X.shape[0], n_est, rng) if self.bootstrap
                  else np.ones((n_est, X.shape[0]), dtype=np.float64))
        self.trees_ = [_tree_arrays(X, y, counts[t]) for t in range(n_est)]
        self.counts_ = counts
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "trees_")
        X = np.ascontiguousarray(X, dtype=np.float64)
        out = np.zeros(X.shape[0])
        for feat, thr, left, right, value in self.trees_:
            out += _apply_tree(X, feat, thr, left, right, value)
        return out / len(self.trees_)


@njit(cache=True, nogil=True)
def _apply_tree(P, feat, thr, left, right, value):  # pragma: no cover - compiled
    out = np.empty(P.shape[0], np.float64)
    for p in range(P.shape[0]):
        node = 0
        while left[node] >= 0:
            if P[p, feat[node]] <= thr[node]:
                node = left[node]
            else:
                node = right[node]
        out[p] = value[node]
    return out
