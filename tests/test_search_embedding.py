"""UMAP embeddings: paper settings, invalid rows filtered, the union model for "both", the on-disk cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from act_bench._cache import CacheWarning
from act_bench.errors import InvalidInputError
from act_bench.search import CandidateSet, _embedding, embed_candidates
from evaluation._synthetic import synthetic_table


@pytest.fixture(scope="module")
def candidates():
    return CandidateSet.from_table(synthetic_table(90, seed=11))


def _blobs(n_blobs: int, per_blob: int = 20, dim: int = 6, spacing: float = 1e3, seed: int = 0) -> CandidateSet:
    """Tight clusters far apart: the outputs k-NN graph has one component per cluster and the centroid affinities
    exp(-d**2) that umap-learn's component layout uses are the identity matrix."""
    rng = np.random.default_rng(seed)
    centers = spacing * rng.normal(size=(n_blobs, dim))
    shape = np.geomspace(4.0, 0.5, dim)     # elongated clusters: well-separated Laplacian eigenvalues
    x = np.concatenate([c + shape * rng.normal(size=(per_blob, dim)) for c in centers]).astype(np.float32)
    return CandidateSet.from_arrays([f"f{i}" for i in range(len(x))], outputs=x)


@pytest.mark.filterwarnings("ignore:n_jobs value")
def test_rows_are_the_valid_ones_and_graphs_are_umaps(candidates, tmp_path):
    import umap

    for feats in ("fim", "outputs", "both"):
        emb = embed_candidates(candidates, feats, seed=3, cache_dir=tmp_path)
        np.testing.assert_array_equal(emb.rows, np.flatnonzero(candidates.feature_valid(feats)))
        assert emb.coords.shape == (emb.rows.size, 2) and np.isfinite(emb.coords).all()
    both = embed_candidates(candidates, "both", seed=3, cache_dir=tmp_path)
    assert both.rows.size < len(candidates)   # rows with invalid FIM or non-finite outputs are left out
    # reference: umap-learn's own fits and union model with the appendix settings; the graphs are identical
    rows = both.rows
    m_out = umap.UMAP(metric="euclidean", n_neighbors=15, min_dist=0.1, random_state=3).fit(candidates.outputs[rows])
    m_fim = umap.UMAP(metric="manhattan", n_neighbors=3, min_dist=0.1, random_state=3).fit(candidates.fim_cdf[rows])
    g_out = _embedding._fuzzy_graph(candidates.outputs[rows], _embedding.UMAP_SETTINGS["outputs"], 3)
    g_fim = _embedding._fuzzy_graph(candidates.fim_cdf[rows], _embedding.UMAP_SETTINGS["fim"], 3)
    # a fitted model's graph_ is pruned in place by its layout (weights below max / 500 set to 0)
    assert abs(_embedding._pruned(g_out, keep_zeros=True) - m_out.graph_).max() == 0
    assert abs(_embedding._pruned(g_fim, keep_zeros=True) - m_fim.graph_).max() == 0
    union = _embedding._pruned(_embedding._union_graph(g_out, g_fim))
    assert abs(union - (m_out + m_fim).graph_).max() == 0


def test_spectral_init_equals_umaps_where_umaps_is_deterministic(candidates):
    """A connected graph (the outputs map here) and a graph of at most four components: umap-learn's own
    spectral_layout (ARPACK, tolerance 1e-4) is reproducible there and our dense eigenvectors match it up to sign."""
    import scipy.sparse.csgraph
    import umap.spectral

    rows = np.flatnonzero(candidates.outputs_valid)
    three = _blobs(3, per_blob=30)
    # component positions: 0 for a connected graph; umap-learn's fixed +-unit vectors for up to four components
    cases = [(candidates.outputs[rows], _embedding._settings_for("outputs", rows.size)["outputs"], [[0.0, 0.0]]),
             (three.outputs, _embedding.UMAP_SETTINGS["outputs"], [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])]
    for x, settings, meta in cases:
        n_comp = len(meta)
        graph = _embedding._fuzzy_graph(x, settings, 0)
        assert scipy.sparse.csgraph.connected_components(graph)[0] == n_comp
        ours = _embedding._spectral_init(graph, 2, np.random.RandomState(0), x, settings["metric"])
        ref = umap.spectral.spectral_layout(x, graph, 2, np.random.RandomState(0), metric=settings["metric"])
        labels = scipy.sparse.csgraph.connected_components(graph)[1]
        for c in range(n_comp):    # each component's eigenvectors up to sign, around the same position
            o, r = ours[labels == c] - meta[c], ref[labels == c] - meta[c]
            sign = np.sign(np.sum(o * r, axis=0))
            np.testing.assert_allclose(o, r * sign, atol=1e-4 * np.abs(ref).max())


def test_lobpcg_path_for_large_components_matches_the_dense_eigenvectors(candidates, monkeypatch):
    """Above DENSE_EIGH_ROWS the eigenvectors come from LOBPCG (fixed start): same vectors up to sign, reproducible."""
    rows = np.flatnonzero(candidates.outputs_valid)
    settings = _embedding._settings_for("outputs", rows.size)["outputs"]
    graph = _embedding._pruned(_embedding._fuzzy_graph(candidates.outputs[rows], settings, 0))
    dense = _embedding._laplacian_eigenvectors(graph, 2)
    monkeypatch.setattr(_embedding, "DENSE_EIGH_ROWS", 10)
    a = _embedding._laplacian_eigenvectors(graph, 2)
    assert a.tobytes() == _embedding._laplacian_eigenvectors(graph, 2).tobytes()
    np.testing.assert_allclose(a * np.sign(np.sum(a * dense, axis=0)), dense, atol=1e-3)


@pytest.mark.parametrize("feats", ["outputs", "both"])
def test_maps_are_bit_identical_within_a_process_and_from_empty_caches(feats, tmp_path):
    """Five far-apart clusters: the case where umap-learn's own spectral initialisation changes from call to call
    (more than four components, degenerate centroid affinities)."""
    cs = _blobs(5)
    if feats == "both":
        rng = np.random.default_rng(1)
        cs = CandidateSet.from_arrays(cs.names, outputs=cs.outputs,
                                      fim_cdf=np.sort(rng.random((len(cs), 8)), axis=1).astype(np.float32))
    first = embed_candidates(cs, feats, seed=2, use_cache=False).coords
    for i in range(2):
        _embedding._MEMORY.clear()
        again = embed_candidates(cs, feats, seed=2, cache_dir=tmp_path / f"fresh{i}")
        assert again.coords.tobytes() == first.tobytes()


def test_maps_are_bit_identical_across_processes(tmp_path):
    import hashlib
    import subprocess
    import sys
    from pathlib import Path

    code = ("import hashlib, sys; sys.path.insert(0, sys.argv[1]); import test_search_embedding as t; "
            "from act_bench.search import embed_candidates; "
            "print(hashlib.sha256(embed_candidates(t._blobs(5), 'outputs', seed=2, use_cache=False)"
            ".coords.tobytes()).hexdigest())")
    here = Path(__file__).parent
    out = subprocess.run([sys.executable, "-c", code, str(here)], capture_output=True, text=True, check=True)
    local = embed_candidates(_blobs(5), "outputs", seed=2, use_cache=False).coords
    assert out.stdout.strip().splitlines()[-1] == hashlib.sha256(local.tobytes()).hexdigest()


def test_graphs_below_4096_rows_do_not_depend_on_the_seed(candidates):
    """Why one graph per feature content is computed per process for all seeds: umap-learn's exact k-NN path."""
    rows = np.flatnonzero(candidates.outputs_valid)
    x = candidates.outputs[rows]
    settings = _embedding._settings_for("outputs", rows.size)["outputs"]
    a, b = _embedding._fit_graph(x, settings, 0), _embedding._fit_graph(x, settings, 7)
    assert abs(a - b).max() == 0 and a.nnz == b.nnz


def test_every_map_depends_on_its_seed(candidates):
    """The seed reaches the layout of every feature set, the union included (umap-learn lays a union model out with a
    fixed random_state=42; we use the seed), so a replay seed varies the map."""
    for feats in ("fim", "outputs", "both"):
        a = embed_candidates(candidates, feats, seed=0, use_cache=False)
        b = embed_candidates(candidates, feats, seed=7, use_cache=False)
        assert a.key != b.key and (a.seed, b.seed) == (0, 7)
        assert not np.allclose(a.coords, b.coords)


def test_fim_map_uses_manhattan_distances_of_the_cdfs(candidates, tmp_path):
    """n_neighbors=3 on the L1 distance: each point's nearest neighbour in CDF space stays close on the map."""
    emb = embed_candidates(candidates, "fim", seed=0, cache_dir=tmp_path)
    X = candidates.fim_cdf[emb.rows].astype(np.float64)
    d = np.abs(X[:, None, :] - X[None, :, :]).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = d.argmin(axis=1)
    e = np.linalg.norm(emb.coords[:, None, :] - emb.coords[None, :, :], axis=-1)
    typical = np.median(e[np.triu_indices(len(e), 1)])
    assert np.median(e[np.arange(len(e)), nn]) < 0.2 * typical


def test_cache_files_reload_and_key(candidates, tmp_path, monkeypatch):
    _embedding._MEMORY.clear()
    a = embed_candidates(candidates, "outputs", seed=1, cache_dir=tmp_path)
    # the shared base is written too unless an earlier test left it in memory
    files = sorted(p.name for p in (tmp_path / "embeddings").iterdir() if not p.name.startswith("base-"))
    assert files == [f"{a.key}.json", f"{a.key}.npy"]
    info = json.loads((tmp_path / "embeddings" / f"{a.key}.json").read_text())
    assert info["versions"]["umap-learn"] and info["versions"]["numpy"] and info["n_rows"] == a.rows.size
    assert info["settings"]["outputs"] == {"metric": "euclidean", "n_neighbors": 15, "min_dist": 0.1}
    np.load(tmp_path / "embeddings" / f"{a.key}.npy", allow_pickle=False)   # plain array, no pickle
    # a fresh process would read the file: drop the in-memory copy, poison the computation, reload
    _embedding._MEMORY.clear()

    def boom(*args, **kw):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(_embedding, "_compute", boom)
    b = embed_candidates(candidates, "outputs", seed=1, cache_dir=tmp_path)
    np.testing.assert_array_equal(a.coords, b.coords)
    monkeypatch.undo()
    # another seed or other feature content is another key
    c = embed_candidates(candidates, "outputs", seed=2, cache_dir=tmp_path)
    assert c.key != a.key and not np.allclose(c.coords, a.coords)
    changed = CandidateSet(candidates.names, equivalents=candidates.equivalents, outputs=candidates.outputs * 2,
                           fim_cdf=candidates.fim_cdf, fim_valid=candidates.fim_valid, fim_layout=candidates.fim_layout)
    assert embed_candidates(changed, "outputs", seed=1, cache_dir=tmp_path).key != a.key
    # a version bump changes the key too, and so does any layout setting
    monkeypatch.setattr(_embedding, "_versions", lambda: {"umap-learn": "9.9"})
    assert embed_candidates(candidates, "outputs", seed=1, cache_dir=tmp_path).key != a.key
    monkeypatch.undo()
    assert embed_candidates(candidates, "outputs", seed=1, cache_dir=tmp_path).key == a.key
    monkeypatch.setitem(_embedding.LAYOUT_SETTINGS, "negative_sample_rate", 7)
    assert embed_candidates(candidates, "outputs", seed=1, cache_dir=tmp_path).key != a.key
    assert set(info["versions"]) >= {"umap-learn", "pynndescent", "numba", "numpy", "scipy", "scikit-learn"}


def test_cache_dir_from_environment(candidates, tmp_path, monkeypatch):
    monkeypatch.setenv("ACT_BENCH_CACHE", str(tmp_path / "envcache"))
    assert _embedding.default_cache_dir() == tmp_path / "envcache"
    _embedding._MEMORY.clear()
    emb = embed_candidates(candidates, "fim", seed=4)
    assert (tmp_path / "envcache" / "embeddings" / f"{emb.key}.npy").is_file()
    monkeypatch.delenv("ACT_BENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _embedding.default_cache_dir() == tmp_path / "xdg" / "act-bench"


def test_corrupt_cache_entry_is_recomputed(candidates, tmp_path):
    _embedding._MEMORY.clear()
    a = embed_candidates(candidates, "fim", seed=5, cache_dir=tmp_path)
    (tmp_path / "embeddings" / f"{a.key}.npy").write_bytes(b"garbage")
    _embedding._MEMORY.clear()
    _embedding._WARNED_CORRUPT.clear()
    with pytest.warns(CacheWarning, match="corrupt"):
        b = embed_candidates(candidates, "fim", seed=5, cache_dir=tmp_path)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert not [p for p in (tmp_path / "embeddings").iterdir() if ".tmp" in p.name]


def test_errors(candidates):
    with pytest.raises(InvalidInputError, match="parameter features of embed_candidates must be one of"):
        embed_candidates(candidates, "eigs")
    tiny = CandidateSet(["a", "b", "c"], outputs=np.eye(3, dtype=np.float32))
    with pytest.raises(InvalidInputError, match="at least 4 functions with valid features"):
        embed_candidates(tiny, "outputs", use_cache=False)


def test_umap_embedder_estimator(candidates, tmp_path):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from act_bench.search import UMAPEmbedder

    est = UMAPEmbedder(features="fim", random_state=3, cache_dir=tmp_path)
    with pytest.raises(NotFittedError):
        check_is_fitted(est, "embedding_")
    coords = est.fit_transform(candidates)
    ref = embed_candidates(candidates, "fim", seed=3, cache_dir=tmp_path)
    np.testing.assert_array_equal(coords, ref.coords)
    np.testing.assert_array_equal(est.rows_, ref.rows)
    assert est.get_params()["random_state"] == 3
    with pytest.raises(InvalidInputError, match="needs a CandidateSet"):
        est.fit(np.zeros((5, 2)))


# -- the seed-independent base (issue 23): maps bit-identical to the code before it was cached ---------------------
# _reference_spectral_init and _reference_layout are verbatim the code of commit c2643e7 (before the base cache).


def _reference_spectral_init(graph, dim, random_state, data=None, metric="euclidean"):
    import scipy.sparse
    import scipy.sparse.csgraph

    n_comp, labels = scipy.sparse.csgraph.connected_components(graph)
    if n_comp == 1:
        return _embedding._laplacian_eigenvectors(graph, dim)
    centroids = None
    if data is not None and n_comp > 2 * dim:
        centroids = np.stack([data[labels == c].mean(axis=0, dtype=np.float64) for c in range(n_comp)])
    meta = _embedding._component_positions(n_comp, dim, centroids, metric)
    csr = scipy.sparse.csr_matrix(graph)
    out = np.empty((graph.shape[0], dim))
    for c in range(n_comp):
        members = np.flatnonzero(labels == c)
        gaps = np.linalg.norm(meta - meta[c], axis=1)
        half = gaps[gaps > 0].min() / 2.0
        if members.size < 2 * dim or members.size <= dim + 1:
            out[members] = random_state.uniform(-half, half, size=(members.size, dim)) + meta[c]
        else:
            vecs = _embedding._laplacian_eigenvectors(csr[members][:, members], dim)
            out[members] = vecs * (half / np.abs(vecs).max()) + meta[c]
    return out


def _reference_layout(graph, seed, min_dist, *, data=None, metric="euclidean", random_init=False):
    import warnings

    import scipy.sparse
    from umap.umap_ import find_ab_params, noisy_scale_coords, simplicial_set_embedding

    rs = np.random.RandomState(seed)
    dim = _embedding.LAYOUT_SETTINGS["n_components"]
    g = scipy.sparse.coo_matrix(graph, copy=True)
    g.sum_duplicates()
    if random_init:
        init = rs.uniform(low=-10.0, high=10.0, size=(g.shape[0], dim)).astype(np.float32)
    else:
        init = noisy_scale_coords(_reference_spectral_init(_embedding._pruned(g), dim, rs, data, metric), rs,
                                  max_coord=10, noise=0.0001)
    a, b = find_ab_params(_embedding.LAYOUT_SETTINGS["spread"], min_dist)
    s = _embedding.LAYOUT_SETTINGS
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        coords, _ = simplicial_set_embedding(None, g, dim, s["learning_rate"], a, b, s["repulsion_strength"],
                                             s["negative_sample_rate"], None, init, rs, "euclidean", {}, False, {},
                                             False, parallel=False)
    return np.asarray(coords, dtype=np.float64)


def _umap_graph(X, settings, seed):
    """umap-learn's own fuzzy graph of ``X`` (the model's ``graph_`` before any layout prunes it)."""
    import warnings

    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = umap.UMAP(n_components=2, random_state=seed, transform_mode="graph", **settings).fit(X)
    return model.graph_.tocoo()


@pytest.mark.parametrize("table", ["act-bench-mnist1d", "act-bench-mnist1d-vit"])
def test_exact_graphs_equal_umaps_on_the_shipped_feature_sets(table):
    """The exact k-NN path (:func:`_embedding._exact_graph`: umap-learn's numba metric in a compiled loop, then its
    ``fuzzy_simplicial_set``) gives umap-learn's graph bit for bit on real FIM CDFs (Manhattan) and function outputs
    (Euclidean): a random 700 valid rows of each, and the map's union of both."""
    import act_bench

    cs = CandidateSet.from_table(act_bench.load_table(table))
    rng = np.random.default_rng(0)
    for part in ("fim", "outputs"):
        rows = np.sort(rng.choice(np.flatnonzero(cs.feature_valid(part)), 700, replace=False))
        X = (cs.fim_cdf if part == "fim" else cs.outputs)[rows].astype(np.float32)
        settings = _embedding._settings_for(part, rows.size)[part]
        got, ref = _embedding._exact_graph(X, settings), _umap_graph(X, settings, 0)
        assert got.shape == ref.shape and got.data.dtype == ref.data.dtype
        for a, b in ((got.row, ref.row), (got.col, ref.col), (got.data, ref.data)):
            assert a.tobytes() == b.tobytes(), (table, part)


def _reference_map(cs, features, seed):
    import scipy.sparse.csgraph

    rows = np.flatnonzero(cs.feature_valid(features))
    settings = _embedding._settings_for(features, rows.size)
    data = {p: (cs.fim_cdf if p == "fim" else cs.outputs)[rows].astype(np.float32) for p in settings}
    graphs = {p: _umap_graph(data[p], settings[p], seed) for p in data}
    if features == "both":
        graph = _embedding._union_graph(graphs["outputs"], graphs["fim"])
        disconnected = scipy.sparse.csgraph.connected_components(graph)[0] > 1
        min_dist = float(np.mean([settings[p]["min_dist"] for p in settings]))
        return _reference_layout(graph, seed, min_dist, random_init=disconnected)
    return _reference_layout(graphs[features], seed, settings[features]["min_dist"], data=data[features],
                             metric=settings[features]["metric"])


def _blobs_with_tiny_components() -> CandidateSet:
    """Six clusters of 20 (more than four components: MDS positions) and three of 3 points far away: with the FIM
    setting's 3 neighbours (the point itself and two more) a cluster of 3 is a component of its own, too small for
    eigenvectors (uniform draws from the layout's generator); the same points as outputs and as "FIM CDFs"."""
    rng = np.random.default_rng(5)
    sizes = [20] * 6 + [3, 3, 3]
    centers = 1e3 * rng.normal(size=(len(sizes), 6))
    x = np.concatenate([c + np.geomspace(4.0, 0.5, 6) * rng.normal(size=(k, 6)) for c, k in zip(centers, sizes)])
    x = x.astype(np.float32)
    return CandidateSet.from_arrays([f"f{i}" for i in range(len(x))], outputs=x, fim_cdf=x)


@pytest.mark.parametrize("feats", ["fim", "outputs", "both"])
def test_maps_from_the_shared_base_equal_the_code_before_it(feats, candidates, tmp_path):
    """Computed fresh, from the in-memory base and from the base on disk, a map is bit-identical to the uncached
    code of c2643e7, for several seeds, with tiny components (random draws) and many components."""
    for cs in (candidates, _blobs_with_tiny_components()):
        for seed in (0, 3):
            ref = _reference_map(cs, feats, seed)
            _embedding._BASES.clear()
            fresh = embed_candidates(cs, feats, seed=seed, use_cache=False).coords       # base computed now
            again = embed_candidates(cs, feats, seed=seed, use_cache=False).coords       # base from memory
            _embedding._BASES.clear()
            _embedding._MEMORY.clear()
            embed_candidates(cs, feats, seed=seed + 1, cache_dir=tmp_path)               # writes the base
            _embedding._BASES.clear()
            _embedding._MEMORY.clear()
            disk = embed_candidates(cs, feats, seed=seed, cache_dir=tmp_path).coords     # base read from disk
            for got in (fresh, again, disk):
                assert got.tobytes() == ref.tobytes(), (feats, seed)
    assert len(list((tmp_path / "embeddings").glob("base-*.npz"))) == 2      # one base per candidate set


def test_the_tiny_component_case_is_covered():
    """The blobs above exercise the initialisation's uniform draws: a FIM graph component under 2 * dim points."""
    import scipy.sparse.csgraph

    blobs = _blobs_with_tiny_components()
    rows = np.flatnonzero(blobs.feature_valid("fim"))
    graph = _embedding._fuzzy_graph(blobs.fim_cdf[rows], _embedding._settings_for("fim", rows.size)["fim"], 0)
    n_comp, labels = scipy.sparse.csgraph.connected_components(_embedding._pruned(graph))
    assert n_comp > 4 and np.bincount(labels).min() < 4
    assert _embedding._spectral_plan(_embedding._pruned(graph), 2, blobs.fim_cdf[rows], "manhattan").random


def test_prepare_embeddings(candidates, tmp_path):
    _embedding._BASES.clear()
    assert _embedding.prepare_embeddings(candidates, "both", cache_dir=tmp_path)
    assert len(list((tmp_path / "embeddings").glob("base-*.npz"))) == 1 and len(_embedding._BASES) == 1
    with pytest.raises(InvalidInputError, match="parameter features of prepare_embeddings"):
        _embedding.prepare_embeddings(candidates, "pixels")
