"""Surrogate searchers: fit a regressor on the 2-D UMAP coordinates of the evaluated functions and evaluate the
unevaluated function with the highest prediction (paper Section 4 and appendix D).

Regressors (fitted on the evaluated functions that have valid features, predicting every not-yet-suggested one):

======= =====================================================================================================
``knr`` k-nearest neighbours, k=3, uniform weights (scikit-learn ``KNeighborsRegressor(n_neighbors=3)``).
        Kept incrementally: each new result updates every candidate's k nearest evaluated points, O(n_candidates).
``rfr`` random forest, scikit-learn defaults except the number of trees: ``n_estimators=20`` by default (see
        docs/searchers.md for the measured effect); trees are built by :mod:`act_bench.search._forest`.
``svr`` scikit-learn ``SVR()`` defaults (RBF kernel, C=1, epsilon=0.1, gamma="scale") fitted on z-scored
        objectives (``standardize=True``); predictions are computed from the support vectors with cached squared
        distances.
``gpr`` scikit-learn ``GaussianProcessRegressor(normalize_y=True)`` with kernel ``C*RBF + WhiteKernel`` (the
        noise term keeps the posterior mean from collapsing to the prior between noisy points); acquisition: the
        predicted mean (``"mean"``, as the other regressors) or an upper confidence bound (``"ucb"``).
======= =====================================================================================================

Ties between equal predictions (frequent with k-NN) are broken uniformly at random with the searcher's generator.
Until a first result with valid features arrives, suggestions are uniform among the embedded candidates.
Failed evaluations (non-finite objective) are fitted with the worst finite objective seen so far.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from numba import njit

from act_bench._validation import check_choice, check_float, check_int
from act_bench.errors import InvalidInputError
from act_bench.search._base import Searcher, _impute
from act_bench.search._candidates import CandidateSet
from act_bench.search._embedding import FEATURE_SETS, Embedding, embed_candidates
from act_bench.search._forest import fit_predict_forest

__all__ = ["REGRESSORS", "SurrogateSearcher"]

#: Regressors a surrogate searcher can use.
REGRESSORS = ("knr", "rfr", "svr", "gpr")


@njit(cache=True, nogil=True)
def _knn_insert(P, x0, x1, new_id, kd, ki):  # pragma: no cover - compiled
    k = kd.shape[1]
    for p in range(P.shape[0]):
        a = P[p, 0] - x0
        b = P[p, 1] - x1
        d = a * a + b * b
        if d < kd[p, k - 1]:
            j = k - 1
            while j > 0 and kd[p, j - 1] > d:
                kd[p, j] = kd[p, j - 1]
                ki[p, j] = ki[p, j - 1]
                j -= 1
            kd[p, j] = d
            ki[p, j] = new_id


@njit(cache=True, nogil=True)
def _knn_predict(ki, values, out):  # pragma: no cover - compiled
    k = ki.shape[1]
    for p in range(ki.shape[0]):
        s = 0.0
        c = 0
        for j in range(k):
            i = ki[p, j]
            if i >= 0:
                s += values[i]
                c += 1
        out[p] = s / c if c > 0 else np.nan


class _KNN:
    def __init__(self, coords: np.ndarray, k: int) -> None:
        self.P = coords
        self.kd = np.full((coords.shape[0], k), np.inf)
        self.ki = np.full((coords.shape[0], k), -1, dtype=np.int64)
        self.out = np.empty(coords.shape[0])

    def add(self, pos: int, new_id: int) -> None:
        _knn_insert(self.P, float(self.P[pos, 0]), float(self.P[pos, 1]), new_id, self.kd, self.ki)

    def predict(self, train_pos: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, None]:
        _knn_predict(self.ki, y, self.out)
        return self.out, None


class _Forest:
    def __init__(self, coords: np.ndarray, n_estimators: int) -> None:
        self.P = coords
        self.n_estimators = n_estimators

    def add(self, pos: int, new_id: int) -> None:
        pass

    def predict(self, train_pos: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, None]:
        return fit_predict_forest(self.P[train_pos], y, self.P, n_estimators=self.n_estimators, rng=rng), None


class _SVR:
    def __init__(self, coords: np.ndarray, C: float, epsilon: float, standardize: bool = True,
                 capacity: int = 64) -> None:
        self.P = coords
        self.C = C
        self.epsilon = epsilon
        self.standardize = standardize
        self.d2 = np.empty((capacity, coords.shape[0]))  # squared distances of evaluated points to all candidates
        self.n = 0

    def add(self, pos: int, new_id: int) -> None:
        if self.n == self.d2.shape[0]:
            grown = np.empty((2 * self.d2.shape[0], self.d2.shape[1]))
            grown[:self.n] = self.d2[:self.n]
            self.d2 = grown
        diff = self.P - self.P[pos]
        self.d2[self.n] = np.einsum("ij,ij->i", diff, diff)
        self.n += 1

    def predict(self, train_pos: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, None]:
        X = self.P[train_pos]
        var = X.var()
        gamma = 1.0 / (X.shape[1] * var) if var != 0 else 1.0  # scikit-learn's gamma="scale"
        mu, sd = (y.mean(), y.std()) if self.standardize else (0.0, 1.0)
        sd = sd if sd > 0 else 1.0
        sv, coef, intercept = _fit_svr(X, (y - mu) / sd, C=self.C, epsilon=self.epsilon, gamma=gamma)
        if sv.size == 0:
            return np.full(self.P.shape[0], intercept * sd + mu), None
        K = np.exp(-gamma * self.d2[sv])
        return (coef @ K + intercept) * sd + mu, None


def _fit_svr(X: np.ndarray, y: np.ndarray, *, C: float, epsilon: float, gamma: float):
    """Fit scikit-learn's epsilon-SVR (RBF kernel); return (support indices, dual coefficients, intercept).

    Calls the libsvm binding that ``sklearn.svm.SVR.fit`` calls, with the same arguments, to skip about 1 ms of
    Python-side validation per fit; falls back to ``SVR().fit`` if that private binding changes. The tests check that
    both paths give identical predictions.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    try:
        from sklearn.svm import _libsvm

        _libsvm.set_verbosity_wrap(0)
        support, _, _, dual_coef, intercept, *_ = _libsvm.fit(
            X, y, svm_type=3, sample_weight=np.empty(0), class_weight=np.empty(0), kernel="rbf", C=C, nu=0.5,
            probability=0, degree=3, shrinking=True, tol=1e-3, cache_size=200, coef0=0.0, gamma=gamma,
            epsilon=epsilon, max_iter=-1, random_seed=0)
        return np.asarray(support, dtype=np.int64), np.asarray(dual_coef[0]), float(intercept[0])
    except (ImportError, TypeError, AttributeError, ValueError):  # pragma: no cover - depends on sklearn internals
        from sklearn.svm import SVR

        model = SVR(C=C, epsilon=epsilon, gamma=gamma).fit(X, y)
        return model.support_.astype(np.int64), model.dual_coef_[0], float(model.intercept_[0])


class _GPR:
    def __init__(self, coords: np.ndarray, acquisition: str, kappa: float, seed: int) -> None:
        self.P = coords
        self.acquisition = acquisition
        self.kappa = kappa
        self.seed = seed

    def add(self, pos: int, new_id: int) -> None:
        pass

    def predict(self, train_pos: np.ndarray, y: np.ndarray, rng: np.random.Generator):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            kernel = ConstantKernel(1.0) * RBF(1.0) + WhiteKernel(1e-2)
            model = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.seed)
            model.fit(self.P[train_pos], y)
            mean, std = model.predict(self.P, return_std=True)
        score = mean + self.kappa * std if self.acquisition == "ucb" else mean
        return mean, score


class SurrogateSearcher(Searcher):
    """Regression on a 2-D UMAP map of FIM and/or output features; evaluates the best predicted function next.

    Parameters
    ----------
    candidates : CandidateSet
    regressor : {"knr", "rfr", "svr", "gpr"}
    features : {"fim", "outputs", "both"}
    seed : int
        Seed of the searcher (tie-breaking, forest bootstraps).
    initial : sequence of str, optional
        Evaluated first (default: the paper's 8 baselines).
    embedding : Embedding, optional
        A precomputed map (default: :func:`embed_candidates` with ``embedding_seed`` and ``cache_dir``).
    embedding_seed : int, optional
        UMAP seed. Default: the searcher's ``seed``, so every search run has its own map (UMAP is stochastic; the
        reference implementation refitted UMAP without a fixed seed in every search). Pass an int to share one map.
    n_maps : int, optional
        Without ``embedding_seed``: use UMAP seed ``seed % n_maps``, i.e. only ``n_maps`` distinct maps for any number
        of runs (UMAP on a few thousand functions takes tens of seconds per map).
    cache_dir : path, optional
        Embedding cache folder.
    n_neighbors : int, default=3
        k of ``knr``.
    n_estimators : int, default=20
        Trees of ``rfr``.
    C, epsilon : float
        ``svr`` parameters (scikit-learn defaults 1.0 and 0.1).
    standardize : bool, default=True
        ``svr`` is fitted on z-scored objectives (predictions mapped back), so the epsilon tube is relative to the
        spread of the accuracies; on raw accuracies a 0.1 tube hides most differences (see docs/searchers.md).
    acquisition : {"mean", "ucb"}, kappa : float
        ``gpr`` acquisition.

    Examples
    --------
    >>> from act_bench.space import evaluate_many
    >>> names = ["relu(x)", "tanh(x)", "elu(x)", "selu(x)", "sigmoid(x)", "swish(x)", "abs(x)", "erf(x)"]
    >>> cs = CandidateSet.from_arrays(names, outputs=evaluate_many(names))
    >>> s = SurrogateSearcher(cs, regressor="knr", features="outputs", seed=0, initial=["relu(x)"])
    >>> first = s.ask()[0]; first.function
    'relu(x)'
    >>> s.tell(first, 0.9); s.ask()[0].function in names
    True
    """

    def __init__(self, candidates: CandidateSet, *, regressor: str = "knr", features: str = "both", seed: int = 0,
                 initial: Sequence[str] | None = None, embedding: Embedding | None = None,
                 embedding_seed: int | None = None, n_maps: int | None = None,
                 cache_dir: str | os.PathLike | None = None, n_neighbors: int = 3, n_estimators: int = 20,
                 C: float = 1.0, epsilon: float = 0.1, standardize: bool = True, acquisition: str = "mean",
                 kappa: float = 1.0) -> None:
        super().__init__(candidates, seed=seed, initial=initial)
        name = type(self).__name__
        self.regressor = check_choice(regressor, "regressor", name, REGRESSORS)
        self.features = check_choice(features, "features", name, FEATURE_SETS)
        if embedding is None:
            if embedding_seed is not None:
                e_seed = check_int(embedding_seed, "embedding_seed", name, min_value=0)
            elif n_maps is not None:
                e_seed = self.seed % check_int(n_maps, "n_maps", name, min_value=1)
            else:
                e_seed = self.seed
            embedding = embed_candidates(candidates, features, seed=e_seed, cache_dir=cache_dir)
        elif not isinstance(embedding, Embedding) or embedding.features != features:
            raise InvalidInputError(f"parameter embedding of {name} must be an Embedding of features {features!r}")
        self.embedding = embedding
        self._pos = np.full(len(candidates), -1, dtype=np.int64)  # candidate row -> row of the embedding
        self._pos[embedding.rows] = np.arange(embedding.rows.size)
        self._in_pool = self._pos >= 0
        coords = np.ascontiguousarray(embedding.coords, dtype=np.float64)
        if regressor == "knr":
            self._model = _KNN(coords, check_int(n_neighbors, "n_neighbors", name, min_value=1))
        elif regressor == "rfr":
            self._model = _Forest(coords, check_int(n_estimators, "n_estimators", name, min_value=1))
        elif regressor == "svr":
            self._model = _SVR(coords, check_float(C, "C", name, min_value=1e-12),
                               check_float(epsilon, "epsilon", name, min_value=0.0), bool(standardize))
        else:
            self._model = _GPR(coords, check_choice(acquisition, "acquisition", name, ("mean", "ucb")),
                               check_float(kappa, "kappa", name, min_value=0.0), self.seed)
        self._train_pos: list[int] = []
        self._train_y: list[float] = []
        self._prior_ids: dict[int, int] = {}   # candidate row -> training point holding its prior value
        self._version = 0                       # bumped whenever the training data change
        self._cached: tuple[int, np.ndarray, np.ndarray] | None = None

    @property
    def map_seed(self) -> int:
        """Seed of the UMAP map this searcher uses."""
        return int(self.embedding.seed)

    def _allowed_mask(self) -> np.ndarray:
        return ~self._blocked & self._in_pool

    def _observe(self, row: int, value: float) -> None:
        pos = int(self._pos[row])
        if pos < 0:
            return
        prior = self._prior_ids.pop(row, None)
        if prior is not None:       # the function's own result replaces its prior value (same point of the map)
            self._train_y[prior] = value
            self._version += 1
            return
        self._model.add(pos, len(self._train_pos))
        self._train_pos.append(pos)
        self._train_y.append(value)
        self._version += 1

    def _observe_prior(self, row: int, value: float) -> None:
        """A prior result (:meth:`warm_start`) is a training point like any other until the row's own result
        replaces its value."""
        if self._pos[row] < 0:
            return
        self._observe(row, value)
        self._prior_ids[row] = len(self._train_pos) - 1

    def _scores(self) -> tuple[np.ndarray, np.ndarray]:
        """(prediction, acquisition score) over the embedded rows, refitted when new results arrived."""
        n = self._version
        if self._cached is None or self._cached[0] != n:
            y = _impute(np.asarray(self._train_y))
            pred, score = self._model.predict(np.asarray(self._train_pos, dtype=np.int64), y, self.rng)
            self._cached = (n, pred, pred if score is None else score)
        return self._cached[1], self._cached[2]

    def _propose(self, n: int, allowed: np.ndarray) -> list[int]:
        if not self._train_pos:
            return self._random_rows(n, allowed)
        _, score = self._scores()
        pool_allowed = allowed[self.embedding.rows]
        idx = np.flatnonzero(pool_allowed)
        if idx.size == 0:
            return []
        s = score[idx]
        if n == 1:
            best = s.max()
            ties = idx[s >= best - 1e-12 * max(1.0, abs(best))]
            pick = [int(ties[self.rng.integers(ties.size)])] if ties.size > 1 else [int(ties[0])]
        else:
            order = np.lexsort((self.rng.random(idx.size), -np.round(s, 12)))
            pick = [int(idx[i]) for i in order[:n]]
        return [int(self.embedding.rows[p]) for p in pick]

    def predict(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Predictions ``(rows, values)`` for the embedded candidates not yet suggested (``None`` before any fit)."""
        if not self._train_pos:
            return None
        pred, _ = self._scores()
        mask = ~self._blocked[self.embedding.rows]
        return self.embedding.rows[mask].copy(), pred[mask].copy()
