"""Honest confidence intervals: every CI resamples the independent unit (maps when runs share them), in the per-table
summaries, the average ranks and the warm starts; a pool is ranked once; the CI widens when maps are shared."""

from __future__ import annotations

import numpy as np
import pytest

from act_bench.search import CandidateSet
from evaluation import (
    ReplayResult,
    TableOracle,
    TableReference,
    WarmStart,
    average_ranks,
    replay,
    same_pools,
    seed_clusters,
    summarize,
)
from evaluation._synthetic import synthetic_table

N_SEEDS, N_MAPS = 100, 10


def _clustered_scores(seed=0):
    """100 seeds of 3 algorithms on 2 tables where the map (seed % 10) decides most of a surrogate's score, as when
    ten maps are shared by a hundred runs."""
    rng = np.random.default_rng(seed)
    out = {}
    for t in ("t1", "t2"):
        effect = rng.normal(0, 20, N_MAPS)
        maps = np.arange(N_SEEDS) % N_MAPS
        out[t] = {"surrogate": 50 + effect[maps] + rng.normal(0, 2, N_SEEDS),
                  "random": 50 + rng.normal(0, 20, N_SEEDS),
                  "evolution": 55 + rng.normal(0, 20, N_SEEDS)}
    return out


def test_average_rank_ci_widens_when_maps_are_shared():
    scores = _clustered_scores()
    labels = {t: np.arange(N_SEEDS) % N_MAPS for t in scores}
    naive = average_ranks(scores, n_boot=400)
    honest = average_ranks(scores, n_boot=400, clusters=labels)
    width = lambda r, a: r["algorithms"][a]["ci95"][1] - r["algorithms"][a]["ci95"][0]
    assert width(honest, "surrogate") > 1.5 * width(naive, "surrogate")
    # the point estimates do not change; the summary says what the CI is over
    for a in scores["t1"]:
        assert honest["algorithms"][a]["mean_rank"] == naive["algorithms"][a]["mean_rank"]
    assert naive["units"]["t1"] == {"unit": "seed", "n": N_SEEDS} and naive["ci_over"].startswith("seeds")
    assert honest["units"]["t1"] == {"unit": "map", "n": N_MAPS} and "share a UMAP map" in honest["ci_over"]
    # one unit per seed is today's bootstrap, draw for draw
    assert average_ranks(scores, n_boot=50, clusters={t: np.arange(N_SEEDS) for t in scores}) == \
        average_ranks(scores, n_boot=50)


def test_summary_ci_widens_when_maps_are_shared():
    """The same 100 trajectories, once as 100 runs with their own maps and once as 10 maps of 10 runs each (runs of
    a map alike): the clustered intervals are wider and say so."""
    table = synthetic_table(200, seed=2)
    oracle = TableOracle.from_table(table)
    ref = TableReference.from_oracle(oracle, None)
    rng = np.random.default_rng(1)
    base = np.stack([rng.permutation(len(table))[:30] for _ in range(N_MAPS)])
    rows = np.repeat(base, N_SEEDS // N_MAPS, axis=0)
    obj = oracle.truth[rows]
    mk = lambda maps: ReplayResult("s", list(range(N_SEEDS)), rows, obj, oracle.truth_test[rows],
                                   np.cumsum(np.ones_like(obj), axis=1), map_seeds=maps)
    own = summarize(mk(np.arange(N_SEEDS)), ref)
    shared = summarize(mk(np.repeat(np.arange(N_MAPS), N_SEEDS // N_MAPS)), ref)
    assert own["ci"]["unit"] == "run" and shared["ci"]["unit"] == "map" and shared["ci"]["maps"] == N_MAPS
    w = lambda s: s["ci95"][-1][1] - s["ci95"][-1][0]
    assert w(shared) > 2 * w(own)
    wt = lambda s: s["final_test_accuracy_ci95"][1] - s["final_test_accuracy_ci95"][0]
    assert wt(shared) > 2 * wt(own)


def test_seed_clusters_join_seeds_that_share_a_map_in_any_algorithm():
    mk = lambda m: ReplayResult("x", list(range(6)), np.zeros((6, 1), int), np.zeros((6, 1)), np.zeros((6, 1)),
                                np.zeros((6, 1)), map_seeds=np.array(m))
    got = seed_clusters({"a": mk([0, 1, 2, 0, 1, 2]), "b": mk([0, 0, 1, 1, 2, 2]), "r": mk([-1] * 6)})
    assert len(set(got.tolist())) == 1          # 0~3 (a), 0~1, 2~3, 4~5 (b), 1~4 (a): one cluster
    assert seed_clusters({"r": mk([-1] * 6)}).tolist() == list(range(6))


def test_a_pool_is_ranked_once():
    table = synthetic_table(80, seed=4)
    cs = CandidateSet.from_table(table)
    algos = ["knr:fim", "random", "random:fim-valid", "random:both-valid"]
    # in the synthetic table some FIM-valid rows have non-finite outputs: two pools
    assert (cs.feature_valid("fim") != cs.feature_valid("both")).any()
    assert same_pools([cs], algos) == {}
    same = CandidateSet(cs.names, equivalents=cs.equivalents, outputs=np.nan_to_num(cs.outputs), fim_cdf=cs.fim_cdf,
                        fim_valid=cs.fim_valid, fim_layout=cs.fim_layout)
    assert same_pools([same], algos) == {"random:both-valid": "random:fim-valid"}
    assert same_pools([same, cs], algos) == {}    # the same pool on every table, or not merged


def test_warm_start_ci_is_over_maps_when_runs_share_them(tmp_path):
    table = synthetic_table(120, seed=3)
    kw = {"knr:outputs": {"n_maps": 2, "cache_dir": tmp_path}}
    out = replay(table, ["knr:outputs", "random"], budget=15, seeds=6, warm_start=WarmStart(table, top_n=20),
                 searcher_kwargs=kw, checkpoints=()).warm_start_summary()
    knr, rnd = out["algorithms"]["knr:outputs"], out["algorithms"]["random"]
    assert knr["cold"]["ci_over"].startswith("cluster bootstrap over 2 maps")
    assert knr["map_seeds"]["warm"] == [0, 1, 0, 1, 0, 1]
    assert rnd["warm"]["ci_over"] == "over 6 independent runs (no map)"


@pytest.mark.parametrize("maps", [None, 3])
def test_cli_suite_states_what_the_rank_ci_is_over(maps, tmp_path, capsys):
    import json

    from act_bench.cli import main
    from evaluation._synthetic import synthetic_benchmark_table

    paths = []
    for i in range(2):
        p = tmp_path / f"t{i}"
        synthetic_benchmark_table(100, seed=i, name=f"t{i}").save(p)
        paths.append(str(p))
    argv = ["replay", "--table", ",".join(paths), "--algorithms", "knr:outputs", "--budget", "12", "--seeds", "6",
            "--cache-dir", str(tmp_path / "cache"), "--json"]
    if maps:
        argv += ["--maps", str(maps)]
    assert main(argv) == 0
    ranks = json.loads(capsys.readouterr().out)["ranks"]
    if maps:
        assert ranks["units"]["t0"] == {"unit": "map", "n": maps}
    else:
        assert ranks["units"]["t0"] == {"unit": "seed", "n": 6} and ranks["ci_over"].startswith("seeds")


def test_cli_progress_bars_name_each_phase(tmp_path, monkeypatch, capsys):
    """One bar per phase on stderr, labelled with it: the maps of each table, then its replay; numbered by table."""
    import act_bench._progress
    from act_bench.cli import main
    from evaluation._synthetic import synthetic_benchmark_table

    bars = []

    class Bar:
        def __init__(self, total=None, desc=None, unit="it", **kw):
            self.n, self.total, self.desc, self.unit = 0, total, desc, unit
            bars.append(self)

        def update(self, k=1):
            self.n += k

        def set_postfix_str(self, *a, **kw):
            pass

        def close(self):
            pass

    monkeypatch.setattr(act_bench._progress, "progress_bar", lambda iterable=None, **kw: Bar(**kw))
    paths = []
    for i in range(2):
        p = tmp_path / f"t{i}"
        synthetic_benchmark_table(90, seed=i, name=f"t{i}").save(p)
        paths.append(str(p))
    argv = ["replay", "--algorithms", "knr:outputs", "--seeds", "3", "--maps", "2", "--cache-dir",
            str(tmp_path / "cache"), "--json"]
    assert main([*argv, "--budget", "10", "--table", ",".join(paths)]) == 0
    # 2 maps per table (--maps 2); 3 algorithms: knr:outputs and its fair baselines random, random:finite-outputs
    assert [(b.desc, b.unit, b.n, b.total) for b in bars] == [
        ("[1/2] maps t0", "map", 2, 2), ("[1/2] replay t0", "algorithm", 3, 3),
        ("[2/2] maps t1", "map", 2, 2), ("[2/2] replay t1", "algorithm", 3, 3)]
    bars.clear()
    assert main([*argv, "--table", paths[0], "--scheduler", "none", "--time-budget", "100"]) == 0
    assert [(b.desc, b.n) for b in bars] == [("maps t0", 2), ("replay t0", 3)]
    capsys.readouterr()
