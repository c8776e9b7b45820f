"""2-D UMAP embeddings of the candidates' features, with the paper's settings, deterministic and cached on disk.

Settings (paper appendix D, "UMAP Settings"):

========== ============================================================================================
``fim``     ``UMAP(metric="manhattan", n_neighbors=3, min_dist=0.1)`` on the concatenated per-layer CDF
            vectors. With ``floor(w/100)`` bins per layer over a fixed range, a layer's bin width times its
            weight count is the same for every layer, so the L1 distance between the vectors is Eq. 2 (the
            weight-weighted sum of per-layer 1-Wasserstein distances) up to a constant factor.
``outputs`` ``UMAP(metric="euclidean", n_neighbors=15, min_dist=0.1)`` on the function outputs (Eq. 3).
``both``    The union of the two fuzzy graphs (umap-learn's ``umap_outputs + umap_fim``), laid out again.
            Fit on the rows valid for both feature sets.
========== ============================================================================================

Determinism. umap-learn's own spectral initialisation is not reproducible when the k-NN graph has more than four
connected components: it places the components with scikit-learn's ARPACK ``SpectralEmbedding`` of the centroid
affinities ``exp(-d**2)``, which are the identity matrix when the centroids are far apart (the outputs features:
centroid distances up to 1e15); the embedding returned for that degenerate problem changes from call to call within
a process (observed on a 5x5 identity with a fixed RandomState). So the graph (``UMAP(transform_mode="graph")``,
umap-learn's code) and the stochastic layout (``umap.umap_.simplicial_set_embedding``, umap-learn's code,
single-threaded, ``random_state=seed``) are umap-learn's, but the initialisation is computed here,
deterministically, by the same recipe (``_spectral_init``): the two smallest non-trivial eigenvectors of each
component's normalised Laplacian (dense LAPACK ``eigh`` up to 4,096 rows, LOBPCG from a fixed start above; signs
fixed), components placed as umap-learn does for up to four components and, for more, by classical MDS of the
``log1p`` centroid distances (instead of the degenerate affinity spectrum). The union graph is laid out with
``random_state=seed`` (umap-learn hard-codes 42), so every feature set's map depends on its seed and a replay seed
varies the map as an unseeded rerun would. The same features and seed give bit-identical coordinates in any process
on the same software versions (tested).

Speed. What does not depend on the seed is computed once per feature set and content and cached (in memory and as
``embeddings/base-<key>.npz`` beside the maps, :func:`prepare_embeddings`): below :data:`EXACT_KNN_ROWS` rows the
k-NN graphs and fuzzy simplicial sets (exact neighbours), the union graph, and the spectral initialisation (the
Laplacian eigenvectors and component positions: ``_spectral_plan``). Only the seeded part runs per map: the uniform
draws of components too small for eigenvectors, the initialisation noise and the stochastic layout, from the same
``RandomState(seed)`` in the same order, so a map is bit-identical to one computed without the cache (tested).

Rows with invalid FIM features or non-finite outputs are left out. ``n_neighbors`` is lowered to ``n_rows - 1`` for
tiny candidate sets. The cache key hashes the versions of act-bench, umap-learn, pynndescent, numba, numpy, scipy
and scikit-learn, the feature set, the UMAP and layout settings (:data:`LAYOUT_SETTINGS`), the seed and the feature
content (valid rows' names and values); entries are a ``.npy`` array and a ``.json`` description, written to a
temporary name and renamed (never pickle).

Cache safety. Each entry carries the SHA-256 of its arrays (a map's in its ``.json`` as ``coords_sha256``, a base's
in its ``.npz`` as ``sha256``), checked on load with the arrays' dtypes and shapes: an entry that is unreadable,
of the wrong type or shape, or corrupt but finite (a checksum mismatch) is recomputed and overwritten, with one
:class:`~act_bench._cache.CacheWarning` per process. A cache that cannot be written (read-only, a file where the
folder should be, a symbolic link) is skipped with one warning: the maps are computed all the same.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph
import scipy.sparse.linalg
from sklearn.base import BaseEstimator

from act_bench._cache import (
    CacheWarning,
    cache_root,
    default_cache_dir,
    known_uncached,
    make_cache_folder,
    warn_uncached,
)
from act_bench._io import make_temp_file, remove_stale_temps
from act_bench._validation import check_choice, check_int
from act_bench.errors import InvalidInputError
from act_bench.search._candidates import CandidateSet

__all__ = ["FEATURE_SETS", "LAYOUT_SETTINGS", "UMAP_SETTINGS", "Embedding", "default_cache_dir", "embed_candidates",
           "prepare_embeddings", "warm_up_layout"]

#: Feature sets a surrogate can use.
FEATURE_SETS = ("fim", "outputs", "both")

#: UMAP keyword arguments per feature (paper appendix D).
UMAP_SETTINGS = {
    "fim": {"metric": "manhattan", "n_neighbors": 3, "min_dist": 0.1},
    "outputs": {"metric": "euclidean", "n_neighbors": 15, "min_dist": 0.1},
}

_MIN_ROWS = 4
#: Up to this many rows a component's Laplacian eigenvectors come from dense LAPACK ``eigh`` (exact, deterministic);
#: above it from LOBPCG started from a fixed-seed block (deterministic too, to its tolerance 1e-4).
DENSE_EIGH_ROWS = 4096
#: Settings of every layout (umap-learn's defaults, which the paper used, and this module's initialisation). All of
#: them are part of the cache key: changing any of them changes the coordinates.
LAYOUT_SETTINGS = {
    "n_components": 2, "spread": 1.0, "learning_rate": 1.0, "repulsion_strength": 1.0, "negative_sample_rate": 5,
    "n_epochs": "umap-learn default (500 up to 10,000 rows, else 200)", "set_op_mix_ratio": 1.0,
    "local_connectivity": 1.0, "init": "act-bench deterministic spectral v1", "dense_eigh_rows": DENSE_EIGH_ROWS,
    "union": "fuzzy union of the outputs and fim graphs, reset_local_connectivity, laid out with random_state=seed",
}
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
    for pkg in ("act-bench", "umap-learn", "pynndescent", "numba", "numpy", "scipy", "scikit-learn"):
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
               "layout": LAYOUT_SETTINGS, "content": candidates.fingerprint(features), "format": 2}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


#: Below this many rows umap-learn computes exact k-NN graphs (no randomness), so a graph does not depend on the seed
#: and is computed once per process for all the seeds' layouts.
EXACT_KNN_ROWS = 4096
_GRAPHS: dict[tuple, scipy.sparse.coo_matrix] = {}


#: umap-learn's numba kernels that every map computes (the fuzzy graph's and the layout's): :func:`_cache_kernels`.
_UMAP_KERNELS = (("umap.umap_", "smooth_knn_dist"), ("umap.umap_", "compute_membership_strengths"),
                 ("umap.utils", "fast_knn_indices"), ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch"))


@functools.cache
def _cache_kernels() -> None:
    """Let numba keep umap-learn's compiled kernels of :data:`_UMAP_KERNELS` in its on-disk cache (what
    ``numba.njit(cache=True)`` does, which umap-learn does not ask for), as act-bench's own kernels do: each process
    of a replay otherwise compiles them again (about 6 s for the fuzzy graph's, 1 s for the layout's), on the
    critical path of every cold replay. The cached code is the same compiled code (numba keys it by signature, target
    and the function's bytecode), so maps do not change. Only before a kernel's first compilation in this process; a
    kernel umap-learn no longer has, or numba cannot cache, is left as it is."""
    import importlib

    for module, name in _UMAP_KERNELS:
        kernel = getattr(importlib.import_module(module), name, None)
        if kernel is not None and hasattr(kernel, "enable_caching") and not kernel.signatures:
            try:
                kernel.enable_caching()
            except RuntimeError:  # numba's "cannot cache function ...: no locator available" (nowhere writable)
                continue          # the kernel is compiled in each process, as without this function


def _fuzzy_graph(X: np.ndarray, settings: dict, seed: int) -> scipy.sparse.coo_matrix:
    """umap-learn's fuzzy simplicial set of ``X`` (its own code: ``UMAP(transform_mode="graph").fit``; no layout),
    kept in memory per content (and seed, from :data:`EXACT_KNN_ROWS` rows)."""
    key = (hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest(), X.shape, json.dumps(settings, sort_keys=True),
           seed if X.shape[0] >= EXACT_KNN_ROWS else None)
    if key not in _GRAPHS:
        if len(_GRAPHS) >= 8:
            _GRAPHS.pop(next(iter(_GRAPHS)))
        _GRAPHS[key] = _fit_graph(X, settings, seed)
    return _GRAPHS[key].copy()


def _fit_graph(X: np.ndarray, settings: dict, seed: int) -> scipy.sparse.coo_matrix:
    _cache_kernels()
    if X.shape[0] < EXACT_KNN_ROWS and settings["metric"] in _EXACT_METRICS:
        return _exact_graph(X, settings)
    import umap

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*[Gg]raph is not fully connected.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        model = umap.UMAP(n_components=LAYOUT_SETTINGS["n_components"], random_state=seed, transform_mode="graph",
                          **settings).fit(X)
    return model.graph_.tocoo()


#: Metrics of the exact path of :func:`_exact_graph` (umap-learn sets no disconnection distance for them).
_EXACT_METRICS = ("euclidean", "manhattan")


@functools.cache
def _upper_distances_kernel(metric: str):
    """A numba kernel filling the upper triangle of the float32 distance matrix with umap-learn's own numba
    ``metric`` function (``umap.distances.named_distances``), pair by pair in the order scikit-learn's
    ``pairwise_distances`` calls a callable metric."""
    import numba
    from umap.distances import named_distances

    dist = named_distances[metric]

    @numba.njit(cache=False)
    def kernel(X: np.ndarray, out: np.ndarray) -> None:
        n = X.shape[0]
        for i in range(n):
            for j in range(i + 1, n):
                out[i, j] = dist(X[i], X[j])

    return kernel


def _exact_graph(X: np.ndarray, settings: dict) -> scipy.sparse.coo_matrix:
    """The fuzzy simplicial set umap-learn's ``UMAP(**settings).fit(X)`` computes below :data:`EXACT_KNN_ROWS` rows,
    bit for bit, without its per-pair Python loop (12 million calls of the metric through scikit-learn for the
    three feature sets of a table, about 8 s).

    umap-learn takes that path as: the dense distance matrix ``pairwise_distances(X, metric=<its numba metric>)``
    (scikit-learn evaluates a callable metric on each pair ``i < j`` into an array of the input's floating dtype,
    float32 here, adds the transpose and sets the diagonal to ``metric(x, x)``, 0 for these metrics), then
    ``fuzzy_simplicial_set(dmat, ..., "precomputed")`` (exact k-NN, no random draws). Here the same numba metric
    fills the same triangle (:func:`_upper_distances_kernel`) and umap-learn's public ``fuzzy_simplicial_set`` does
    the rest with the arguments ``UMAP.fit`` passes. ``tests/test_search_embedding.py`` checks it equals the model's graph
    on the shipped tables' feature sets.
    """
    from umap.umap_ import fuzzy_simplicial_set

    X = np.ascontiguousarray(X, dtype=np.float32)
    n = X.shape[0]
    dmat = np.zeros((n, n), dtype=np.float32)
    _upper_distances_kernel(settings["metric"])(X, dmat)
    dmat = dmat + dmat.T
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        graph, _, _, _ = fuzzy_simplicial_set(dmat, settings["n_neighbors"], np.random.RandomState(0), "precomputed",
                                              {}, None, None, False, LAYOUT_SETTINGS["set_op_mix_ratio"],
                                              LAYOUT_SETTINGS["local_connectivity"], True, False, False)
    return graph.tocoo()


def _pruned(graph, *, keep_zeros: bool = False) -> scipy.sparse.coo_matrix:
    """The graph as umap-learn's layout prunes it: weights below ``max / n_epochs`` set to 0 and dropped, or kept as
    explicit zeros (``keep_zeros``: what a fitted model's ``graph_`` holds afterwards, pruned in place)."""
    g = scipy.sparse.coo_matrix(graph, copy=True)
    g.sum_duplicates()
    n_epochs = 500 if g.shape[0] <= 10000 else 200
    g.data[g.data < g.data.max() / float(n_epochs)] = 0.0
    if not keep_zeros:
        g.eliminate_zeros()
    return g


def _union_graph(outputs_graph, fim_graph) -> scipy.sparse.coo_matrix:
    """The graph of umap-learn's union model ``umap_outputs + umap_fim`` (same two calls as ``UMAP.__add__``, on the
    component graphs as a fitted model holds them: pruned in place by its own layout)."""
    from umap.umap_ import general_simplicial_set_union, reset_local_connectivity

    union = general_simplicial_set_union(_pruned(outputs_graph, keep_zeros=True).tocsr(),
                                         _pruned(fim_graph, keep_zeros=True).tocsr())
    return reset_local_connectivity(union, True).tocoo()


def _laplacian_eigenvectors(graph, dim: int) -> np.ndarray:
    """The ``dim`` smallest non-trivial eigenvectors of the normalised Laplacian of a connected graph, signs fixed so
    that each column's largest-magnitude entry is positive (the spectral initialisation of umap-learn, computed
    deterministically)."""
    n = graph.shape[0]
    k = dim + 1
    g = scipy.sparse.csr_matrix(graph, dtype=np.float64)
    sqrt_deg = np.sqrt(np.asarray(g.sum(axis=0)).ravel())
    d = scipy.sparse.diags(1.0 / sqrt_deg)
    lap = scipy.sparse.identity(n, dtype=np.float64, format="csr") - d @ g @ d
    if n <= DENSE_EIGH_ROWS:
        vals, vecs = scipy.linalg.eigh(lap.toarray(), subset_by_index=[0, min(k, n) - 1])
    else:
        x0 = np.random.default_rng(0).normal(size=(n, k))
        x0[:, 0] = sqrt_deg / np.linalg.norm(sqrt_deg)
        vals, vecs = scipy.sparse.linalg.lobpcg(lap, x0, largest=False, tol=1e-4, maxiter=5 * n)
    vecs = vecs[:, np.argsort(vals, kind="stable")[1:k]]
    if vecs.shape[1] < dim:
        vecs = np.hstack([vecs, np.zeros((n, dim - vecs.shape[1]))])
    peak = vecs[np.argmax(np.abs(vecs), axis=0), np.arange(dim)]
    return vecs * np.where(peak < 0, -1.0, 1.0)


def _component_positions(n_comp: int, dim: int, centroids: np.ndarray | None, metric: str) -> np.ndarray:
    """Where the connected components go (max |coordinate| 1).

    Up to ``2 dim`` components: umap-learn's fixed layout (+-unit vectors). More: classical MDS of the ``log1p``
    distances between the component centroids (umap-learn uses an ARPACK spectral embedding of ``exp(-d**2)``,
    which is degenerate and not reproducible when the centroids are far apart); without data, or if MDS places two
    components on one point, evenly on the unit circle.
    """
    if n_comp <= 2 * dim:
        k = int(np.ceil(n_comp / 2.0))
        base = np.hstack([np.eye(k), np.zeros((k, dim - k))])
        return np.vstack([base, -base])[:n_comp]
    if centroids is not None:
        from sklearn.metrics import pairwise_distances

        dist = np.log1p(pairwise_distances(centroids, metric=metric))
        center = np.eye(n_comp) - 1.0 / n_comp
        vals, vecs = scipy.linalg.eigh(-0.5 * center @ (dist ** 2) @ center)
        order = np.argsort(-vals, kind="stable")[:dim]
        meta = vecs[:, order] * np.sqrt(np.clip(vals[order], 0.0, None))
        peak = meta[np.argmax(np.abs(meta), axis=0), np.arange(dim)]
        meta = meta * np.where(peak < 0, -1.0, 1.0)
        scale = np.abs(meta).max()
        if scale > 0 and np.unique(np.round(meta / scale, 12), axis=0).shape[0] == n_comp:
            return meta / scale
    angle = 2 * np.pi * np.arange(n_comp) / n_comp
    return np.hstack([np.cos(angle)[:, None], np.sin(angle)[:, None], np.zeros((n_comp, dim - 2))])


@dataclass(frozen=True)
class _SpectralPlan:
    """The seed-independent part of :func:`_spectral_init`: ``base`` holds every component placed by its
    eigenvectors; the components too small for them (``random``: members, half-width, centre, in component order)
    are filled from the layout's ``RandomState`` by :func:`_apply_plan`."""

    base: np.ndarray
    random: tuple[tuple[np.ndarray, float, np.ndarray], ...]


def _spectral_plan(graph, dim: int, data: np.ndarray | None = None, metric: str = "euclidean") -> _SpectralPlan:
    """Everything of :func:`_spectral_init` that does not draw random numbers (the costly part: eigenvectors)."""
    n_comp, labels = scipy.sparse.csgraph.connected_components(graph)
    if n_comp == 1:
        return _SpectralPlan(_laplacian_eigenvectors(graph, dim), ())
    centroids = None
    if data is not None and n_comp > 2 * dim:
        centroids = np.stack([data[labels == c].mean(axis=0, dtype=np.float64) for c in range(n_comp)])
    meta = _component_positions(n_comp, dim, centroids, metric)
    csr = scipy.sparse.csr_matrix(graph)
    out = np.empty((graph.shape[0], dim))
    random = []
    for c in range(n_comp):
        members = np.flatnonzero(labels == c)
        gaps = np.linalg.norm(meta - meta[c], axis=1)
        half = gaps[gaps > 0].min() / 2.0
        if members.size < 2 * dim or members.size <= dim + 1:
            out[members] = 0.0
            random.append((members, float(half), meta[c].copy()))
        else:
            vecs = _laplacian_eigenvectors(csr[members][:, members], dim)
            out[members] = vecs * (half / np.abs(vecs).max()) + meta[c]
    return _SpectralPlan(out, tuple(random))


def _apply_plan(plan: _SpectralPlan, random_state: np.random.RandomState) -> np.ndarray:
    """The initialisation of :func:`_spectral_init` from its plan: the small components' uniform draws, in
    component order (the same draws from the same generator state)."""
    out = plan.base.copy()
    dim = out.shape[1]
    for members, half, center in plan.random:
        out[members] = random_state.uniform(-half, half, size=(members.size, dim)) + center
    return out


def _spectral_init(graph, dim: int, random_state: np.random.RandomState, data: np.ndarray | None = None,
                   metric: str = "euclidean") -> np.ndarray:
    """Deterministic spectral initialisation of a UMAP layout (umap-learn's ``spectral_layout`` recipe).

    A connected graph: its Laplacian eigenvectors. Several components: each component's eigenvectors (or, below
    ``2 dim + 1`` points, uniform noise from ``random_state``, as umap-learn) scaled to half the smallest distance
    between component positions, around its position (:func:`_component_positions`). Computed as
    :func:`_apply_plan` of :func:`_spectral_plan` (the plan does not depend on ``random_state`` and is cached).
    """
    return _apply_plan(_spectral_plan(graph, dim, data, metric), random_state)


def _layout(graph, seed: int, min_dist: float, *, data: np.ndarray | None = None, metric: str = "euclidean",
            random_init: bool = False, plan: _SpectralPlan | None = None) -> np.ndarray:
    """umap-learn's stochastic layout (``simplicial_set_embedding``, single-threaded) from the deterministic init
    (``plan``: the graph's :func:`_spectral_plan`, computed here when not given)."""
    from umap.umap_ import find_ab_params, noisy_scale_coords, simplicial_set_embedding

    _cache_kernels()
    rs = np.random.RandomState(seed)
    dim = LAYOUT_SETTINGS["n_components"]
    g = scipy.sparse.coo_matrix(graph, copy=True)
    g.sum_duplicates()
    if random_init:   # umap-learn's rule for a disconnected union graph
        init = rs.uniform(low=-10.0, high=10.0, size=(g.shape[0], dim)).astype(np.float32)
    else:             # umap-learn initialises from the graph pruned as the layout will prune it
        if plan is None:
            plan = _spectral_plan(_pruned(g), dim, data, metric)
        init = noisy_scale_coords(_apply_plan(plan, rs), rs, max_coord=10, noise=0.0001)
    a, b = find_ab_params(LAYOUT_SETTINGS["spread"], min_dist)
    s = LAYOUT_SETTINGS
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        coords, _ = simplicial_set_embedding(None, g, dim, s["learning_rate"], a, b, s["repulsion_strength"],
                                             s["negative_sample_rate"], None, init, rs, "euclidean", {}, False, {},
                                             False, parallel=False)
    return coords


@dataclass(frozen=True)
class _MapBase:
    """What every map of one feature set and content shares (no seed): the graph laid out, its layout settings and
    the spectral plan (``None`` for a disconnected union graph, which starts from uniform draws)."""

    graph: scipy.sparse.coo_matrix
    min_dist: float
    random_init: bool
    plan: _SpectralPlan | None


def _base_for(candidates: CandidateSet, rows: np.ndarray, features: str, seed: int, settings: dict) -> _MapBase:
    data = {}
    if "fim" in settings:
        data["fim"] = candidates.fim_cdf[rows].astype(np.float32)
    if "outputs" in settings:
        data["outputs"] = candidates.outputs[rows].astype(np.float32)
    graphs = {p: _fuzzy_graph(data[p], settings[p], seed) for p in data}
    dim = LAYOUT_SETTINGS["n_components"]
    if features == "both":
        graph = _union_graph(graphs["outputs"], graphs["fim"])
        disconnected = scipy.sparse.csgraph.connected_components(graph)[0] > 1
        min_dist = float(np.mean([settings[p]["min_dist"] for p in settings]))
        plan = None if disconnected else _spectral_plan(_pruned(_summed(graph)), dim)
        return _MapBase(graph, min_dist, disconnected, plan)
    graph = graphs[features]
    plan = _spectral_plan(_pruned(_summed(graph)), dim, data[features], settings[features]["metric"])
    return _MapBase(graph, settings[features]["min_dist"], False, plan)


def _summed(graph) -> scipy.sparse.coo_matrix:
    g = scipy.sparse.coo_matrix(graph, copy=True)
    g.sum_duplicates()
    return g


_BASES: dict[str, _MapBase] = {}


def _base_key(candidates: CandidateSet, features: str, settings: dict) -> str:
    payload = {"versions": _versions(), "features": features, "settings": settings, "layout": LAYOUT_SETTINGS,
               "content": candidates.fingerprint(features), "format": 1, "part": "seed-independent base"}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of named arrays: names, dtypes, shapes and bytes (the arrays as stored)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


_WARNED_CORRUPT: set[str] = set()


def _warn_corrupt(path: Path) -> None:
    """One warning per process for cache entries found corrupt, recomputed and overwritten (an entry that cannot be
    overwritten is reported by :func:`_cache_write` instead)."""
    if not _WARNED_CORRUPT:
        warnings.warn(f"cache entry {str(path)!r} is corrupt or not act-bench's (checksum, type or shape); "
                      f"recomputed and overwritten", CacheWarning, stacklevel=3)
    _WARNED_CORRUPT.add(str(path))


def _cache_write(cache_dir: str | os.PathLike | None, path: Path, write) -> bool:
    """Write a cache entry through a temporary sibling and a rename; a cache that cannot be written is skipped
    with one warning (:func:`act_bench._cache.warn_uncached`). Returns whether the entry was written."""
    root = cache_root(cache_dir)
    if known_uncached(root):
        return False
    tmp = None
    try:
        make_cache_folder("embeddings", cache_dir)
        remove_stale_temps(path)
        tmp = make_temp_file(path)
        os.chmod(tmp, 0o644)
        write(tmp)
        os.replace(tmp, path)   # replaces a link at ``path`` itself, never its target
        return True
    except OSError as exc:
        warn_uncached(root, exc)
        return False
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def _save_base(cache_dir: str | os.PathLike | None, path: Path, base: _MapBase) -> bool:
    g = base.graph
    arrays = {"row": g.row, "col": g.col, "data": g.data, "shape": np.array(g.shape, dtype=np.int64),
              "min_dist": np.array(base.min_dist), "random_init": np.array(base.random_init)}
    if base.plan is not None:
        arrays["plan_base"] = base.plan.base
        members = [m for m, _, _ in base.plan.random]
        arrays["plan_members"] = np.concatenate(members).astype(np.int64) if members else np.zeros(0, np.int64)
        arrays["plan_sizes"] = np.array([m.size for m in members], dtype=np.int64)
        arrays["plan_half"] = np.array([h for _, h, _ in base.plan.random], dtype=np.float64)
        arrays["plan_center"] = (np.stack([c for _, _, c in base.plan.random]) if members
                                 else np.zeros((0, base.plan.base.shape[1])))
    arrays["sha256"] = np.array(_checksum(arrays))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    return _cache_write(cache_dir, path, write)


_BASE_KINDS = {"row": "iu", "col": "iu", "data": "f", "shape": "iu", "min_dist": "f", "random_init": "b",
               "plan_base": "f", "plan_members": "iu", "plan_sizes": "iu", "plan_half": "f", "plan_center": "f"}


def _base_arrays_ok(z: dict[str, np.ndarray], n: int) -> bool:
    """Whether a base's arrays have the dtypes and shapes :func:`_save_base` writes, for ``n`` rows."""
    if any(k in z and z[k].dtype.kind not in kinds for k, kinds in _BASE_KINDS.items()):
        return False
    row, col, data = z["row"], z["col"], z["data"]
    if not (row.ndim == col.ndim == data.ndim == 1 and row.size == col.size == data.size):
        return False
    if z["shape"].tolist() != [n, n] or z["min_dist"].shape != () or z["random_init"].shape != ():
        return False
    if (row.size and (min(row.min(), col.min()) < 0 or max(row.max(), col.max()) >= n)) \
            or not np.isfinite(data).all() or not np.isfinite(z["min_dist"]):
        return False
    if "plan_base" not in z:
        return True
    pb, members, sizes, half, center = (z[k] for k in ("plan_base", "plan_members", "plan_sizes", "plan_half",
                                                        "plan_center"))
    return (pb.ndim == 2 and pb.shape[0] == n and members.ndim == sizes.ndim == half.ndim == 1
            and center.shape == (sizes.size, pb.shape[1]) and half.size == sizes.size
            and bool((sizes >= 0).all()) and int(sizes.sum()) == members.size
            and (members.size == 0 or (members.min() >= 0 and members.max() < n)))


def _load_base(path: Path, n: int) -> tuple[_MapBase | None, bool]:
    """The base stored at ``path`` for ``n`` rows and whether the entry was corrupt (``None`` then): unreadable,
    a checksum mismatch, or arrays of another dtype or shape. An entry without a checksum (older format) is
    recomputed without a warning."""
    try:
        with open(path, "rb") as fh:   # closed however the archive turns out
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):   # a plain array where an archive should be
                return None, True
            with z:
                arrays = {k: z[k] for k in z.files}
        stored = arrays.pop("sha256", None)
        if stored is None:
            return None, False
        if stored.dtype.kind != "U" or stored.shape != () or str(stored) != _checksum(arrays) \
                or not set(arrays) <= set(_BASE_KINDS) or not _base_arrays_ok(arrays, n):
            return None, True
        graph = scipy.sparse.coo_matrix((arrays["data"], (arrays["row"], arrays["col"])), shape=(n, n))
        plan = None
        if "plan_base" in arrays:
            sizes = arrays["plan_sizes"]
            members = np.split(arrays["plan_members"], np.cumsum(sizes)[:-1]) if sizes.size else []
            random = tuple((m, float(h), c) for m, h, c in zip(members, arrays["plan_half"], arrays["plan_center"]))
            plan = _SpectralPlan(arrays["plan_base"], random)
        return _MapBase(graph, float(arrays["min_dist"]), bool(arrays["random_init"]), plan), False
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None, True   # unreadable entry: recomputed and overwritten


def _map_base(candidates: CandidateSet, rows: np.ndarray, features: str, settings: dict,
              cache_dir: str | os.PathLike | None, use_cache: bool) -> _MapBase:
    """The seed-independent base of ``features``' maps, from memory, the disk cache, or computed (and cached)."""
    key = _base_key(candidates, features, settings)
    hit = _BASES.get(key)
    if hit is not None:
        return hit
    path = cache_root(cache_dir) / "embeddings" / f"base-{key}.npz"
    base, corrupt = _load_base(path, rows.size) if use_cache and path.is_file() else (None, False)
    if base is None:
        base = _base_for(candidates, rows, features, 0, settings)
        if use_cache and _save_base(cache_dir, path, base) and corrupt:
            _warn_corrupt(path)
    if len(_BASES) >= 6:
        _BASES.pop(next(iter(_BASES)))
    _BASES[key] = base
    return base


def prepare_embeddings(candidates: CandidateSet, features: str, *, cache_dir: str | os.PathLike | None = None,
                       use_cache: bool = True) -> bool:
    """Compute and cache what every map of ``features`` shares, whatever its seed (graphs and spectral
    initialisation; see the module notes), so processes that compute maps of several seeds start from it.

    Returns ``False`` (nothing to share) when the candidate set has :data:`EXACT_KNN_ROWS` rows or more, where the
    k-NN graph depends on the seed.

    Examples
    --------
    >>> from act_bench.space import evaluate_many
    >>> names = ["relu(x)", "tanh(x)", "elu(x)", "selu(x)", "sigmoid(x)", "swish(x)"]
    >>> cs = CandidateSet.from_arrays(names, outputs=evaluate_many(names))
    >>> prepare_embeddings(cs, "outputs", use_cache=False)
    True
    """
    check_choice(features, "features", "prepare_embeddings", FEATURE_SETS)
    rows = np.flatnonzero(candidates.feature_valid(features))
    if rows.size < _MIN_ROWS or rows.size >= EXACT_KNN_ROWS:
        return False
    _map_base(candidates, rows, features, _settings_for(features, rows.size), cache_dir, use_cache)
    return True


def warm_up_layout() -> None:
    """Compile umap-learn's numba layout kernels in this process by laying out a 24-point ring (milliseconds once
    compiled): a replay pool's workers do it while the driver computes the maps' shared bases, so their first map
    does not wait for the compiler. Same argument types as a real map, so the same compiled code."""
    n = 24
    rows = np.arange(n)
    ring = scipy.sparse.coo_matrix((np.ones(2 * n, dtype=np.float32), (np.r_[rows, (rows + 1) % n],
                                                                       np.r_[(rows + 1) % n, rows])), shape=(n, n))
    _layout(ring, 0, UMAP_SETTINGS["outputs"]["min_dist"])


def _compute(candidates: CandidateSet, rows: np.ndarray, features: str, seed: int, settings: dict,
             cache_dir: str | os.PathLike | None = None, use_cache: bool = False) -> np.ndarray:
    if rows.size < EXACT_KNN_ROWS:   # the graphs do not depend on the seed: one shared base
        base = _map_base(candidates, rows, features, settings, cache_dir, use_cache)
    else:
        base = _base_for(candidates, rows, features, seed, settings)
    coords = _layout(base.graph, seed, base.min_dist, random_init=base.random_init, plan=base.plan)
    coords = np.asarray(coords, dtype=np.float64)
    if coords.shape != (rows.size, 2) or not np.isfinite(coords).all():
        raise RuntimeError(f"UMAP returned an embedding of shape {coords.shape} with non-finite values")
    return coords


def _load_map(npy: Path, meta: Path, key: str, n: int) -> tuple[np.ndarray | None, bool]:
    """The coordinates stored for ``key`` (``n`` rows) and whether the entry was corrupt (``None`` then):
    unreadable, a description that is not this key's, a checksum mismatch, coordinates of another dtype or shape.
    An entry without a checksum (older format) is recomputed without a warning."""
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        if not isinstance(info, dict) or info.get("key") != key:
            return None, True
        checksum = info.get("coords_sha256")
        if checksum is None:
            return None, False
        with open(npy, "rb") as fh:
            loaded = np.load(fh, allow_pickle=False)
        if not isinstance(loaded, np.ndarray) or loaded.dtype != np.float64 or loaded.shape != (n, 2) \
                or checksum != _checksum({"coords": loaded}) or not np.isfinite(loaded).all():
            return None, True
        return loaded, False
    except FileNotFoundError:
        return None, False   # half of an entry (another process is writing or clearing it): recomputed
    except (OSError, ValueError, TypeError, EOFError, RecursionError):
        return None, True


def embed_candidates(candidates: CandidateSet, features: str, *, seed: int = 0,
                     cache_dir: str | os.PathLike | None = None, use_cache: bool = True) -> Embedding:
    """2-D UMAP embedding of the candidates valid for ``features``, computed once and cached on disk.

    Parameters
    ----------
    candidates : CandidateSet
    features : {"fim", "outputs", "both"}
    seed : int, default=0
        Seed of the map: of the k-NN graph (from 4,096 rows, where umap-learn's NN-descent is randomised) and of the
        layout. The same features and seed give bit-identical coordinates in any process (see the module notes).
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
    key = _cache_key(candidates, features, seed, settings)
    if use_cache and key in _MEMORY:
        hit = _MEMORY[key]
        if np.array_equal(hit.rows, rows):
            return hit
        # same valid functions and features at other row positions (e.g. a table holding only the valid rows of a
        # live search's candidates): the coordinates apply, the row indices are this candidate set's
        return Embedding(rows=rows, coords=hit.coords, features=features, seed=seed, key=key)
    folder = cache_root(cache_dir) / "embeddings"
    npy, meta = folder / f"{key}.npy", folder / f"{key}.json"
    coords, corrupt = None, False
    if use_cache and meta.exists():
        coords, corrupt = _load_map(npy, meta, key, rows.size)
    if coords is None:
        coords = _compute(candidates, rows, features, seed, settings, cache_dir, use_cache)
        if use_cache:
            def save(path: Path) -> None:
                with open(path, "wb") as fh:
                    np.save(fh, coords, allow_pickle=False)

            info = {"key": key, "features": features, "seed": seed, "settings": settings, "n_rows": int(rows.size),
                    "versions": _versions(), "content_sha256": candidates.fingerprint(features),
                    "coords_sha256": _checksum({"coords": coords})}
            # the description (with the checksum) last: a map without its description is never read
            if _cache_write(cache_dir, npy, save) and _cache_write(
                    cache_dir, meta, lambda p: p.write_text(json.dumps(info, indent=1, sort_keys=True),
                                                            encoding="utf-8")) and corrupt:
                _warn_corrupt(npy)
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
