"""UMAP embeddings: paper settings, invalid rows filtered, the union model for "both", the on-disk cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from act_bench.errors import InvalidInputError
from act_bench.search import CandidateSet, _embedding, embed_candidates
from evaluation._synthetic import synthetic_table


@pytest.fixture(scope="module")
def candidates():
    return CandidateSet.from_table(synthetic_table(90, seed=11))


@pytest.mark.filterwarnings("ignore:n_jobs value")
def test_rows_are_the_valid_ones_and_union_is_umaps_union(candidates, tmp_path):
    import umap

    for feats in ("fim", "outputs", "both"):
        emb = embed_candidates(candidates, feats, seed=3, cache_dir=tmp_path)
        np.testing.assert_array_equal(emb.rows, np.flatnonzero(candidates.feature_valid(feats)))
        assert emb.coords.shape == (emb.rows.size, 2) and np.isfinite(emb.coords).all()
    both = embed_candidates(candidates, "both", seed=3, cache_dir=tmp_path)
    assert both.rows.size < len(candidates)   # rows with invalid FIM or non-finite outputs are left out
    # reference: umap-learn's union model built by hand with the appendix settings
    rows = both.rows
    m_out = umap.UMAP(metric="euclidean", n_neighbors=15, min_dist=0.1, random_state=3).fit(candidates.outputs[rows])
    m_fim = umap.UMAP(metric="manhattan", n_neighbors=3, min_dist=0.1, random_state=3).fit(candidates.fim_cdf[rows])
    np.testing.assert_allclose(both.coords, (m_out + m_fim).embedding_, rtol=1e-6, atol=1e-6)


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
    files = sorted(p.name for p in (tmp_path / "embeddings").iterdir())
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
    # a version bump changes the key too
    monkeypatch.setattr(_embedding, "_versions", lambda: {"umap-learn": "9.9"})
    assert embed_candidates(candidates, "outputs", seed=1, cache_dir=tmp_path).key != a.key


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
    b = embed_candidates(candidates, "fim", seed=5, cache_dir=tmp_path)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert not [p for p in (tmp_path / "embeddings").iterdir() if p.name.endswith(".tmp")]


def test_errors(candidates):
    with pytest.raises(InvalidInputError, match="parameter features of embed_candidates must be one of"):
        embed_candidates(candidates, "eigs")
    tiny = CandidateSet(["a", "b", "c"], outputs=np.eye(3, dtype=np.float32))
    with pytest.raises(InvalidInputError, match="at least 4 functions with valid features"):
        embed_candidates(tiny, "outputs", use_cache=False)


def test_union_map_does_not_depend_on_the_seed_below_4096_rows(candidates):
    """umap-learn: exact k-NN graphs under 4096 rows + union laid out with random_state=42 -> one map for all seeds,
    which embed_candidates therefore computes once. The component maps do depend on the seed."""
    rows = np.flatnonzero(candidates.feature_valid("both"))
    settings = _embedding._settings_for("both", rows.size)
    a = _embedding._compute(candidates, rows, "both", 0, settings)
    b = _embedding._compute(candidates, rows, "both", 7, settings)
    np.testing.assert_array_equal(a, b)
    fim_rows = np.flatnonzero(candidates.fim_valid)
    fs = _embedding._settings_for("fim", fim_rows.size)
    assert not np.array_equal(_embedding._compute(candidates, fim_rows, "fim", 0, fs),
                              _embedding._compute(candidates, fim_rows, "fim", 7, fs))
    e0 = embed_candidates(candidates, "both", seed=0, use_cache=False)
    e7 = embed_candidates(candidates, "both", seed=7, use_cache=False)
    assert e0.key == e7.key and e7.seed == 0


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
