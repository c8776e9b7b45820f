"""Replay against tables (known optimum), simulated workers, metrics against direct computations, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from act_bench.cli import main
from act_bench.errors import InvalidInputError
from act_bench.search import CandidateSet, create_searcher, searcher_info
from evaluation import (
    TableOracle,
    TableReference,
    best_so_far,
    evals_to,
    incumbent_test,
    mean_ci,
    median_ci,
    replay,
    summarize,
)
from evaluation._synthetic import synthetic_benchmark_table, synthetic_table


@pytest.fixture(scope="module")
def table():
    return synthetic_table(300, seed=1)


def _toy(n=40, runtime=None, seed=0):
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(n)]
    val = rng.permutation(np.linspace(0.1, 0.9, n))
    return pd.DataFrame({"function": names, "equivalents": [[m] for m in names],
                         "outputs": list(np.eye(n, dtype=np.float32)), "val_accuracy": val,
                         "test_accuracy": val - 0.01, "runtime": runtime if runtime is not None else np.ones(n)})


def test_random_replay_over_the_whole_table_finds_the_optimum(table):
    n = len(table)
    res = replay(table, "random", budget=n, seeds=3).result()
    best = np.nanmax(table["val_accuracy"])
    for s in range(3):
        assert sorted(res.rows[s]) == list(range(n))          # a permutation: every function exactly once
        assert np.nanmax(res.objective[s]) == best
        np.testing.assert_array_equal(res.objective[s], np.asarray(table["val_accuracy"])[res.rows[s]])
    ref = TableReference.from_oracle(TableOracle.from_table(table), CandidateSet.from_table(table).index_of("relu(x)"))
    summary = summarize(res, ref)
    assert summary["evals_to_top1pct"]["found_fraction"] == 1.0
    assert summary["mean_best"][-1] == pytest.approx(best)
    assert summary["final_regret"] == pytest.approx(0.0)


def test_table_reference_thresholds():
    df = _toy(200)
    ref = TableReference.from_oracle(TableOracle.from_table(df), None)
    v = np.sort(df["val_accuracy"])[::-1]
    assert (ref.best, ref.top1, ref.top5) == (v[0], v[1], v[9])   # ceil(0.01*200)=2nd, ceil(0.05*200)=10th best
    assert ref.relu is None


def test_metrics_against_direct_computation():
    rng = np.random.default_rng(0)
    obj = rng.random((7, 25))
    obj[2, :3] = np.nan
    test = rng.random((7, 25))
    best = best_so_far(obj)
    inc = incumbent_test(obj, test)
    for s in range(7):
        run_best, run_inc = -np.inf, np.nan
        for i in range(25):
            if np.isfinite(obj[s, i]) and obj[s, i] > run_best:
                run_best, run_inc = obj[s, i], test[s, i]
            assert (np.isnan(best[s, i]) and run_best == -np.inf) or best[s, i] == run_best
            assert (np.isnan(inc[s, i]) and np.isnan(run_inc)) or inc[s, i] == run_inc
    thr = 0.95
    e = evals_to(best, thr)
    for s in range(7):
        hits = [i + 1 for i in range(25) if np.isfinite(best[s, i]) and best[s, i] >= thr]
        assert e[s] == (hits[0] if hits else np.inf)
    _, lo, hi = mean_ci(best[:, 10:])
    for i in range(15):
        col = best[:, 10 + i]
        ref_lo, ref_hi = stats.t.interval(0.95, len(col) - 1, loc=col.mean(), scale=stats.sem(col))
        assert (lo[i], hi[i]) == pytest.approx((ref_lo, ref_hi))


@pytest.mark.parametrize("n,ranks", [(10, (2, 9)), (100, (40, 61))])
def test_median_ci_uses_the_tabulated_order_statistics(n, ranks):
    """Published distribution-free 95% CIs for the median: ranks 2 and 9 for n=10, 40 and 61 for n=100."""
    x = np.arange(1, n + 1, dtype=float) * 3
    out = median_ci(x)
    assert out["ci95"] == [x[ranks[0] - 1], x[ranks[1] - 1]]
    assert out["median"] == np.median(x) and out["found_fraction"] == 1.0
    k = n * 45 // 100
    x[-k:] = np.inf   # 45% censored (never reached): the upper bound is unknown, the median is not
    out = median_ci(x)
    assert out["found_fraction"] == pytest.approx((n - k) / n)
    assert out["ci95"] == [x[ranks[0] - 1], None] and out["median"] == np.median(x)


def test_simulated_workers_with_constant_runtime():
    df = _toy(40, runtime=np.full(40, 5.0))
    r1 = replay(df, "random", budget=30, seeds=2, workers=1).result()
    np.testing.assert_allclose(r1.time[0], 5.0 * np.arange(1, 31))
    r4 = replay(df, "random", budget=30, seeds=2, workers=4).result()
    np.testing.assert_allclose(r4.time[0], 5.0 * (1 + np.arange(30) // 4))


def test_simulated_workers_with_varied_runtimes():
    rt = np.random.default_rng(3).uniform(1, 10, size=60)
    df = _toy(60, runtime=rt)
    res = replay(df, "random", budget=50, seeds=3, workers=3).result()
    for s in range(3):
        t = res.time[s]
        assert np.all(np.diff(t) >= 0)                          # told in completion order
        busy = rt[res.rows[s]].sum()
        assert busy / 3 <= t[-1] + 1e-9                          # three workers cannot do more than 3x the time
        assert t[-1] <= busy / 3 + rt.max() + 1e-9               # greedy list scheduling bound (no idle worker)
        assert sum(np.isclose(t, rt[res.rows[s]])) >= 3          # the first job of each worker starts at t=0
    one = replay(df, "random", budget=50, seeds=1, workers=1).result()
    np.testing.assert_allclose(one.time[0], np.cumsum(rt[one.rows[0]]))


def test_surrogate_search_beats_random_on_a_table_with_a_known_optimum(table, tmp_path):
    kw = {"cache_dir": tmp_path, "embedding_seed": 0}
    rnd = replay(table, "random", budget=60, seeds=12).result()
    knr = replay(table, "knr:outputs", budget=60, seeds=12, searcher_kwargs={"knr:outputs": kw},
                 checkpoints=(20,)).result()
    ref = TableReference.from_oracle(TableOracle.from_table(table), None)
    s_rnd, s_knr = summarize(rnd, ref), summarize(knr, ref)
    assert s_knr["auc"] > s_rnd["auc"]
    assert s_knr["evals_to_top1pct"]["found_fraction"] >= s_rnd["evals_to_top1pct"]["found_fraction"]
    # surrogate quality at the checkpoint: scores are recorded for every seed and are meaningful
    q = knr.quality[20]
    assert q["spearman"].shape == (12,) and np.nanmean(q["spearman"]) > 0.2
    assert np.all((q["precision_at_k"] >= 0) & (q["precision_at_k"] <= 1))
    assert "surrogate_quality" in s_knr and "surrogate_quality" not in s_rnd


def test_surrogate_quality_against_direct_ranks(table, tmp_path):
    from evaluation._replay import _quality

    cands = CandidateSet.from_table(table)
    oracle = TableOracle.from_table(table)
    s = create_searcher("svr:outputs", cands, seed=0, cache_dir=tmp_path, embedding_seed=0)
    for _ in range(15):
        g = s.ask()[0]
        s.tell(g, oracle.objective[g.index])
    q = _quality(s, oracle, 10)
    rows, pred = s.predict()
    ok = np.isfinite(oracle.objective[rows])
    p, t = pred[ok], oracle.objective[rows][ok]
    rank = lambda v: pd.Series(v).rank(method="average").to_numpy()
    assert q["spearman"] == pytest.approx(np.corrcoef(rank(p), rank(t))[0, 1])
    top_p, top_t = set(np.argsort(-p, kind="stable")[:10]), set(np.argsort(-t, kind="stable")[:10])
    assert q["precision_at_k"] == len(top_p & top_t) / 10


def test_replay_input_errors(table):
    with pytest.raises(InvalidInputError, match=r"unknown algorithm\(s\) 'bogus'"):
        replay(table, "bogus", budget=10, seeds=2)
    with pytest.raises(InvalidInputError, match="parameter budget of replay must be an integer >= 1"):
        replay(table, "random", budget=0, seeds=2)
    with pytest.raises(InvalidInputError, match="parameter seeds of replay"):
        replay(table, "random", budget=5, seeds=[])
    with pytest.raises(InvalidInputError, match="no column 'val_accuracy'"):
        replay(table.drop(columns=["val_accuracy"]), "random", budget=5, seeds=1)


@pytest.mark.slow
def test_callable_factory_and_parallel_jobs_match():
    df = _toy(50)
    a = replay(df, lambda c, seed: create_searcher("random", c, seed=seed), budget=20, seeds=[4, 5, 6]).result()
    b = replay(df, "random", budget=20, seeds=[4, 5, 6], jobs=2).result()
    np.testing.assert_array_equal(a.rows, b.rows)


@pytest.fixture(scope="module")
def saved_table(tmp_path_factory):
    path = tmp_path_factory.mktemp("tables") / "syn"
    synthetic_benchmark_table(80, seed=2).save(path)
    return path


def test_cli_replay_json_and_figures(saved_table, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ACT_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code = main(["replay", "--table", str(saved_table), "--algorithms", "random,knr:fim", "--budget", "12",
                 "--seeds", "6", "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"table", "evals", "seeds", "algorithms"} <= set(summary)
    assert (summary["table"], summary["evals"], summary["seeds"]) == ("synthetic", 12, 6)
    for name in ("random", "knr:fim"):
        a = summary["algorithms"][name]
        assert len(a["mean_best"]) == 12 and len(a["ci95"]) == 12
        assert {"median", "found_fraction", "ci95"} <= set(a["evals_to_top1pct"])
        assert {"median", "found_fraction"} <= set(a["evals_to_beat_baselines"])
        assert 0 <= a["final_test_accuracy"] <= 1
        assert all(x <= y + 1e-12 for x, y in zip(a["mean_best"], a["mean_best"][1:]))   # best-so-far
    assert json.loads((out / "summary.json").read_text()) == summary
    assert (out / "search_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_plot_map_and_eigenvalues(saved_table, tmp_path, capsys, monkeypatch):
    import matplotlib.image as mpimg

    monkeypatch.setenv("ACT_BENCH_CACHE", str(tmp_path / "cache"))
    png = tmp_path / "map.png"
    assert main(["plot", "map", "--table", str(saved_table), "--features", "both", "--out", str(png)]) == 0
    assert mpimg.imread(png).ndim == 3
    eig = tmp_path / "eig.png"
    assert main(["plot", "eigenvalues", "--table", str(saved_table), "--out", str(eig), "--json"]) == 0
    assert mpimg.imread(eig).ndim == 3
    assert len([ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]) == 1


def test_cli_errors(saved_table, tmp_path, capsys):
    assert main(["replay", "--table", str(saved_table), "--algorithms", "random,nope", "--budget", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown algorithm(s) 'nope'" in err and "knr:both" in err
    assert main(["replay", "--table", str(tmp_path / "missing"), "--budget", "5"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    afile = tmp_path / "file"
    afile.write_text("x")
    assert main(["replay", "--table", str(saved_table), "--algorithms", "random", "--out", str(afile)]) == 2
    assert "must be a directory" in capsys.readouterr().err
    assert main(["plot", "map", "--table", str(saved_table), "--out", str(tmp_path / "map.jpg")]) == 2
    assert "must end in .png" in capsys.readouterr().err
    assert not (tmp_path / "map.jpg").exists()


def test_simulated_workers_write_time_curves(tmp_path):
    run = replay(_toy(30, runtime=np.linspace(1, 3, 30)), ["random", "evolution"], budget=10, seeds=3, workers=3,
                 baselines=True)
    summary = run.summary()
    run.write_figures(tmp_path)
    assert summary["workers"] == 3 and run.result("random").workers == 3
    for name in ("search_curves.png", "search_curves_time.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_eigenvalue_density_from_cdfs():
    """Uniform per-layer distributions: the mixture density is the weight-weighted mix of the layer densities."""
    from evaluation import eigenvalue_density

    grid = np.linspace(-99, 99, 199)
    uniform = np.linspace(0, 1, 11)[1:]                          # CDF of U(-100, 100) at 10 bin edges
    half = np.concatenate([np.zeros(5), np.linspace(0, 1, 6)[1:]])  # CDF of U(0, 100)
    layout = [{"layer": "a", "weights": 1000, "bins": 10}, {"layer": "b", "weights": 3000, "bins": 10}]
    dens = eigenvalue_density(np.concatenate([uniform, half]), layout, grid)
    expected = 0.25 * (1 / 200) + 0.75 * np.where(grid > 0, 1 / 100, 0.0)
    inside = np.abs(grid) > 2                                    # away from the kink at 0 (finite differences)
    np.testing.assert_allclose(dens[inside], expected[inside], rtol=1e-9, atol=1e-12)
    assert np.sum(dens) * (grid[1] - grid[0]) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("name", ["random", "knr:fim", "evolution"])
def test_replay_on_the_tiny_test_table(name, tmp_path):
    """tests/data/tiny-table: relu(x) is the best (val 0.87, test 0.86); reciprocal(x) failed (NaN), exp(exp(x))
    diverged (0.1), sigmoid(x) has no valid FIM."""
    from pathlib import Path

    from act_bench.tables import load_table

    table = load_table(Path(__file__).parent / "data" / "tiny-table")
    kw = {"cache_dir": tmp_path} if searcher_info(name).uses_map else None
    res = replay(table, name, budget=6, seeds=3, searcher_kwargs={name: kw} if kw else None).result()
    assert all(sorted(r) == list(range(6)) for r in res.rows)      # every function once, then exhausted
    cands = CandidateSet.from_table(table)
    from act_bench.space import BASELINE_FUNCTIONS

    ref = TableReference.from_oracle(TableOracle.from_table(table), 0, cands.indices_of(BASELINE_FUNCTIONS))
    assert (ref.best, ref.relu, ref.n, ref.best_baseline) == (0.87, 0.87, 5, 0.87)
    s = summarize(res, ref)
    assert s["final_val_accuracy"] == pytest.approx(0.87) and s["final_test_accuracy"] == pytest.approx(0.86)
    assert s["evals_to_top1pct"]["median"] == 1.0                    # relu(x) is the first baseline in the table
    assert s["evals_to_beat_baselines"]["found_fraction"] == 0.0      # nothing beats the best function
