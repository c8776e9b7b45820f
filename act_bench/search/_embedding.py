"""2-D UMAP embeddings of the candidates' features, with the paper's settings, cached on disk.

Settings (paper appendix D, "UMAP Settings"):

========== ============================================================================================
``fim``     ``UMAP(metric="manhattan", n_neighbors=3, min_dist=0.1)`` on the concatenated per-layer CDF
            vectors. With ``floor(w/100)`` bins per layer over a fixed range, a layer's bin width times its
            weight count is the same for every layer, so the L1 distance between the vectors is Eq. 2 (the
            weight-weighted sum of per-layer 1-Wasserstein distances) up to a constant factor.
``outputs`` ``UMAP(metric="euclidean", n_neighbors=15, min_dist=0.1)`` on the function outputs (Eq. 3).
``both``    The union model ``umap_outputs + umap_fim`` of umap-learn (fuzzy union of the two graphs, laid
            out again); its ``embedding_`` is the 2-D map. Fit on the rows valid for both feature sets.
========== ============================================================================================

Rows with invalid FIM features or non-finite outputs are left out. Under 4,096 rows the ``both`` map does not depend
on the seed (umap-learn's exact k-NN graphs and fixed union layout seed), so it is computed once and shared. ``n_neighbors`` is lowered to ``n_rows - 1`` for
tiny candidate sets. The cache key hashes the versions of act-bench, umap-learn, pynndescent, numba and numpy, the
feature set, the UMAP settings, the seed and the feature content (valid rows' names and values); entries are a
``.npy`` array and a ``.json`` description, written to a temporary name and renamed (never pickle).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from act_bench._cache import default_cache_dir
from act_bench._validation import check_choice, check_int
from act_bench.errors import InvalidInputError
from act_bench.search._candidates import CandidateSet

__all__ = ["FEATURE_SETS", "UMAP_SETTINGS", "Embedding", "default_cache_dir", "embed_candidates"]

#: Feature sets a surrogate can use.
FEATURE_SETS = ("fim", "outputs", "both")

#: UMAP keyword arguments per feature (paper appendix D).
UMAP_SETTINGS = {
    "fim": {"metric": "manhattan", "n_neighbors": 3, "min_dist": 0.1},
    "outputs": {"metric": "euclidean", "n_neighbors": 15, "min_dist": 0.1},
}

_MIN_ROWS = 4
#: Below this many rows umap-learn builds exact k-NN graphs (no randomness) and it always lays out a union model with
#: random_state=42, so the ``both`` map does not depend on the seed: it is computed once (seed 0) and shared.
UNION_SEED_FREE_ROWS = 4096
_MEMORY: dict[str, Embedding] = {}


@dataclass(frozen=True)
class Embedding:
    """A 2-D map of some candidates.

    Attributes
    ----------
    rows : numpy.ndarray of int
        Candidate rows that were embedded (valid for the feature set), ascending.
    coords : numpy.ndarray of shape (len(rows), 2)
        Their coordinates.
    features : str
        ``fim``, ``outputs`` or ``both``.
    seed : int
        UMAP ``random_state``.
    key : str
        Cache key.
    """

    rows: np.ndarray
    coords: np.ndarray
    features: str
    seed: int
    key: str


@functools.lru_cache(maxsize=1)
def _versions_cached() -> tuple[tuple[str, str], ...]:
    return tuple(_versions_uncached().items())


def _versions() -> dict[str, str]:
    return dict(_versions_cached())


def _versions_uncached() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("act-bench", "umap-learn", "pynndescent", "numba", "numpy", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "none"
    return out


def _settings_for(features: str, n_rows: int) -> dict[str, dict]:
    parts = ("fim", "outputs") if features == "both" else (features,)
    out = {}
    for p in parts:
        s = dict(UMAP_SETTINGS[p])
        s["n_neighbors"] = min(s["n_neighbors"], n_rows - 1)
        out[p] = s
    return out


def _cache_key(candidates: CandidateSet, features: str, seed: int, settings: dict) -> str:
    payload = {"versions": _versions(), "features": features, "seed": seed, "settings": settings,
               "content": candidates.fingerprint(features), "format": 1}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _fit_umap(X: np.ndarray, settings: dict, seed: int):
    import umap

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*[Gg]raph is not fully connected.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        return umap.UMAP(n_components=2, random_state=seed, **settings).fit(X)


def _compute(candidates: CandidateSet, rows: np.ndarray, features: str, seed: int, settings: dict) -> np.ndarray:
    models = {}
    if "fim" in settings:
        models["fim"] = _fit_umap(candidates.fim_cdf[rows].astype(np.float32), settings["fim"], seed)
    if "outputs" in settings:
        models["outputs"] = _fit_umap(candidates.outputs[rows].astype(np.float32), settings["outputs"], seed)
    if features == "both":
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            model = models["outputs"] + models["fim"]
    else:
        model = models[features]
    coords = np.asarray(model.embedding_, dtype=np.float64)
    if coords.shape != (rows.size, 2) or not np.isfinite(coords).all():
        raise RuntimeError(f"UMAP returned an embedding of shape {coords.shape} with non-finite values")
    return coords


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def embed_candidates(candidates: CandidateSet, features: str, *, seed: int = 0,
                     cache_dir: str | os.PathLike | None = None, use_cache: bool = True) -> Embedding:
    """2-D UMAP embedding of the candidates valid for ``features``, computed once and cached on disk.

    Parameters
    ----------
    candidates : CandidateSet
    features : {"fim", "outputs", "both"}
    seed : int, default=0
        UMAP ``random_state`` (single-threaded, reproducible).
    cache_dir : path, optional
        Cache folder (default :func:`default_cache_dir`); entries go to ``<cache_dir>/embeddings``.
    use_cache : bool, default=True
        Read and write the cache (an in-process copy is kept too).

    Examples
    --------
    >>> from act_bench.space import evaluate_many
    >>> names = ["relu(x)", "tanh(x)", "elu(x)", "selu(x)", "sigmoid(x)", "swish(x)"]
    >>> cs = CandidateSet.from_arrays(names, outputs=evaluate_many(names))
    >>> emb = embed_candidates(cs, "outputs", seed=0, use_cache=False)
    >>> emb.coords.shape
    (6, 2)
    """
    check_choice(features, "features", "embed_candidates", FEATURE_SETS)
    seed = check_int(seed, "seed", "embed_candidates", min_value=0)
    rows = np.flatnonzero(candidates.feature_valid(features))
    if rows.size < _MIN_ROWS:
        raise InvalidInputError(f"embedding feature set {features!r} needs at least {_MIN_ROWS} functions with "
                                f"valid features; the candidate set has {rows.size}")
    settings = _settings_for(features, rows.size)
    if features == "both" and rows.size < UNION_SEED_FREE_ROWS:
        seed = 0  # the union map is the same for every seed here (tested); compute and cache it once
    key = _cache_key(candidates, features, seed, settings)
    if use_cache and key in _MEMORY:
        hit = _MEMORY[key]
        if np.array_equal(hit.rows, rows):
            return hit
        # same valid functions and features at other row positions (e.g. a table holding only the valid rows of a
        # live search's candidates): the coordinates apply, the row indices are this candidate set's
        return Embedding(rows=rows, coords=hit.coords, features=features, seed=seed, key=key)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    npy = folder / "embeddings" / f"{key}.npy"
    meta = folder / "embeddings" / f"{key}.json"
    coords = None
    if use_cache and npy.is_file() and meta.is_file():
        try:
            info = json.loads(meta.read_text())
            loaded = np.load(npy, allow_pickle=False)
            if info.get("key") == key and loaded.shape == (rows.size, 2) and np.isfinite(loaded).all():
                coords = loaded.astype(np.float64)
        except (OSError, ValueError):
            coords = None  # unreadable entry: recompute and overwrite
    if coords is None:
        coords = _compute(candidates, rows, features, seed, settings)
        if use_cache:
            npy.parent.mkdir(parents=True, exist_ok=True)
            def save(path: Path) -> None:
                with open(path, "wb") as fh:
                    np.save(fh, coords, allow_pickle=False)

            _atomic_write(npy, save)
            info = {"key": key, "features": features, "seed": seed, "settings": settings, "n_rows": int(rows.size),
                    "versions": _versions(), "content_sha256": candidates.fingerprint(features)}
            _atomic_write(meta, lambda p: p.write_text(json.dumps(info, indent=1, sort_keys=True)))
    emb = Embedding(rows=rows, coords=coords, features=features, seed=seed, key=key)
    if use_cache:
        _MEMORY[key] = emb
    return emb


class UMAPEmbedder(BaseEstimator):
    """scikit-learn-style wrapper of :func:`embed_candidates` (fit on a :class:`CandidateSet`).

    Parameters
    ----------
    features : {"fim", "outputs", "both"}, default="both"
    random_state : int, default=0
    cache_dir : path, optional
    use_cache : bool, default=True

    Attributes
    ----------
    embedding_ : numpy.ndarray of shape (n_rows_, 2)
    rows_ : numpy.ndarray of int
        Candidate rows embedded (valid for ``features``).
    key_ : str
        Cache key.

    Examples
    --------
    >>> from act_bench.space import evaluate_many
    >>> names = ["relu(x)", "tanh(x)", "elu(x)", "selu(x)", "sigmoid(x)", "swish(x)"]
    >>> cs = CandidateSet.from_arrays(names, outputs=evaluate_many(names))
    >>> UMAPEmbedder(features="outputs", use_cache=False).fit(cs).embedding_.shape
    (6, 2)
    """

    def __init__(self, *, features: str = "both", random_state: int = 0,
                 cache_dir: str | os.PathLike | None = None, use_cache: bool = True) -> None:
        self.features = features
        self.random_state = random_state
        self.cache_dir = cache_dir
        self.use_cache = use_cache

    def fit(self, X: CandidateSet, y=None) -> UMAPEmbedder:
        if not isinstance(X, CandidateSet):
            raise InvalidInputError(f"UMAPEmbedder.fit needs a CandidateSet; got {type(X).__name__}")
        emb = embed_candidates(X, self.features, seed=self.random_state, cache_dir=self.cache_dir,
                               use_cache=self.use_cache)
        self.embedding_ = emb.coords
        self.rows_ = emb.rows
        self.key_ = emb.key
        return self

    def fit_transform(self, X: CandidateSet, y=None) -> np.ndarray:
        return self.fit(X).embedding_
