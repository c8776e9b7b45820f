"""Fair baselines and honest CIs: exact random-search order statistics against enumeration and simulation, pools from
the registry, evaluations after the baselines, how CIs are formed, reproducible replays from empty caches."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from act_bench.cli import main
from act_bench.search import CandidateSet, _embedding, create_searcher, register_searcher, searcher_info
from act_bench.space import BASELINE_FUNCTIONS
from evaluation import (
    TableOracle,
    TableReference,
    best_so_far,
    ci_design,
    evals_after_baselines,
    exact_random_search,
    fair_baselines,
    replay,
    summarize,
)
from evaluation._metrics import grouped_median_ci
from evaluation._synthetic import synthetic_benchmark_table, synthetic_table


def _enumerate(hit, first, pool, count_first=True):
    """P(T = t) by listing every order of the pool rows after the baselines (exact fractions)."""
    rest = [r for r in range(len(hit)) if pool[r] and r not in first]
    counts: dict[float, int] = {}
    perms = list(itertools.permutations(rest))
    for order in perms:
        seq = list(first) + list(order)
        t = next((i + 1 for i, r in enumerate(seq) if hit[r]), np.inf)
        if not count_first:
            t = t - len(first) if np.isfinite(t) else t
        counts[t] = counts.get(t, 0) + 1
    return {t: Fraction(c, len(perms)) for t, c in counts.items()}


@pytest.mark.parametrize("hits,pool_out,count_first", [
    ((4, 6), (), True), ((4, 6), (5,), True), ((8,), (2, 3), True), ((1, 5), (), True), ((), (), True),
    ((3, 4, 7), (7,), False)])
def test_exact_distribution_equals_enumeration(hits, pool_out, count_first):
    n, first = 9, [1, 0]
    hit = np.zeros(n, bool)
    hit[list(hits)] = True
    pool = np.ones(n, bool)
    pool[list(pool_out)] = False
    want = _enumerate(hit, first, pool, count_first)
    got = exact_random_search(hit, first, pool, count_first=count_first)
    for t, p in want.items():
        if np.isfinite(t):
            assert got.pmf[int(t) - 1] == pytest.approx(float(p), abs=1e-12)
        else:
            assert got.never == pytest.approx(float(p), abs=1e-12)
    assert got.pmf.sum() + got.never == pytest.approx(1.0)
    if np.inf in want:
        assert got.mean == np.inf
    else:
        assert got.mean == pytest.approx(float(sum(int(t) * p for t, p in want.items())))
    # closed form E[T] = b + (m + 1) / (h + 1) when no baseline hits
    if not hit[first].any() and got.hits:
        b = len(first) if count_first else 0
        assert got.mean == pytest.approx(b + (got.pool_size + 1) / (got.hits + 1))
    # median and quantiles: smallest t with P(T <= t) >= q
    cum = np.cumsum([float(want.get(t, 0)) for t in range(1, n + 1)])
    for q in (0.025, 0.5, 0.975):
        idx = np.flatnonzero(cum >= q - 1e-12)
        assert got.quantile(q) == (idx[0] + 1 if idx.size else np.inf)


def _toy(n=14, seed=0):
    rng = np.random.default_rng(seed)
    names = ["relu(x)", "tanh(x)", "elu(x)"] + [f"f{i}" for i in range(n - 3)]
    val = rng.permutation(np.linspace(0.1, 0.9, n))
    outputs = rng.normal(size=(n, 5)).astype(np.float32)
    outputs[[4, 7, 9]] = np.nan                          # not in the finite-outputs pool
    return pd.DataFrame({"function": names, "equivalents": [[m] for m in names], "outputs": list(outputs),
                         "val_accuracy": val, "test_accuracy": val, "runtime": np.ones(n)})


def test_simulated_pool_random_search_matches_the_exact_distribution():
    """4,000 replays of random:finite-outputs: pool respected, mean and distribution as the order statistics say."""
    df = _toy()
    cands = CandidateSet.from_table(df)
    res = replay(df, "random:finite-outputs", budget=14, seeds=4000).result()
    base = cands.indices_of(BASELINE_FUNCTIONS)     # the baselines that are candidates
    assert (res.rows[:, :3] == base).all()
    ok = res.rows[:, 3:]
    assert np.isin(ok[ok >= 0], np.flatnonzero(cands.outputs_valid)).all()
    oracle = TableOracle.from_table(df)
    ref = TableReference.from_oracle(oracle, None, base)
    hit = oracle.objective >= ref.top5
    exact = exact_random_search(hit, base, cands.outputs_valid)
    t = np.where(hit[np.where(res.rows >= 0, res.rows, 0)] & (res.rows >= 0), 1, 0).argmax(axis=1) + 1
    sd = np.sqrt(np.sum((np.arange(1, exact.pmf.size + 1) - exact.mean) ** 2 * exact.pmf))
    assert abs(t.mean() - exact.mean) < 4 * sd / np.sqrt(t.size)
    emp = np.bincount(t, minlength=exact.pmf.size + 1)[1:] / t.size
    assert np.abs(emp - exact.pmf).max() < 0.03


def test_fair_baselines_come_from_the_registry_entry_not_the_name():
    register_searcher("zz-doc-surrogate", lambda c, *, seed=0, **kw: create_searcher("random", c, seed=seed),
                      kind="test", features="outputs", overwrite=True)
    assert fair_baselines(["zz-doc-surrogate"]) == ["random", "random:finite-outputs"]
    assert fair_baselines(["knr:fim", "rfr:both", "evolution"]) == ["random", "random:fim-valid", "random:both-valid"]
    assert searcher_info("random:fim-valid").features == "fim" and not searcher_info("random:fim-valid").uses_map
    assert searcher_info("svr:outputs").uses_map


def test_evals_after_baselines_against_a_loop():
    rng = np.random.default_rng(3)
    obj = rng.random((9, 20))
    best = best_so_far(obj)
    got = evals_after_baselines(best, 4, 0.9)
    for s in range(9):
        first = next((i + 1 for i in range(20) if best[s, i] > 0.9), np.inf)
        assert got[s] == (max(first - 4, 0) if np.isfinite(first) else np.inf)


def test_compare_reports_fair_baselines_and_exact_values_and_ci_units(tmp_path):
    df = _toy(30, seed=1)
    summary = replay(df, ["random:finite-outputs", "evolution"], budget=12, seeds=5, baselines=True).summary()
    assert summary["baselines"] == ["random"]
    assert set(summary["algorithms"]) == {"random:finite-outputs", "evolution", "random"}
    assert set(summary["exact_random"]) == {"random", "random:finite-outputs"}
    cands = CandidateSet.from_table(df)
    oracle = TableOracle.from_table(df)
    base = cands.indices_of(BASELINE_FUNCTIONS)
    hit = oracle.objective >= summary["reference"]["top1pct_threshold"]
    e = summary["exact_random"]["random:finite-outputs"]["evals_to_top1pct"]
    exact = exact_random_search(hit, base, cands.outputs_valid)
    assert e["mean"] == pytest.approx(exact.mean) and e["found_within_budget"] == pytest.approx(exact.cdf(12))
    for a in summary["algorithms"].values():
        assert a["ci"]["unit"] == "run" and a["ci"]["maps"] == 0 and "evals_to_beat_relu" not in a


def test_ci_design_and_cluster_bootstrap():
    assert ci_design(None, 5)["unit"] == "run"
    assert ci_design(np.arange(5), 5)["unit"] == "run"
    assert ci_design(np.zeros(5, int), 5)["unit"] == "runs-on-one-map"
    assert ci_design(np.arange(6) % 2, 6) == {"unit": "map", "runs": 6, "maps": 2, "method": ci_design(
        np.arange(6) % 2, 6)["method"]}
    # runs sharing a map repeat one value: the cluster bootstrap's bounds are values of the map medians' range,
    # and with two clusters the bootstrap distribution of the median is spread over both
    x = np.array([5.0] * 10 + [40.0] * 10)
    groups = np.repeat([0, 1], 10)
    out = grouped_median_ci(x, groups)
    assert out["ci95"] == [5.0, 40.0] and out["median"] == 22.5


def test_svr_both_seeds_give_distinct_trajectories_with_per_seed_maps(tmp_path):
    df = synthetic_table(60, seed=4)
    res = replay(df, "svr:both", budget=15, seeds=4, searcher_kwargs={"svr:both": {"cache_dir": tmp_path}}).result()
    assert len({r.tobytes() for r in res.rows}) > 1
    assert sorted(res.map_seeds.tolist()) == [0, 1, 2, 3]
    shared = replay(df, "svr:both", budget=15, seeds=3,
                    searcher_kwargs={"svr:both": {"cache_dir": tmp_path, "embedding_seed": 0}}).result()
    ref = TableReference.from_oracle(TableOracle.from_table(df), None)
    ci = summarize(shared, ref)["ci"]
    assert ci["unit"] == "runs-on-one-map" and "map-to-map variation not included" in ci["method"]
    assert ci["distinct_trajectories"] == 1        # svr is deterministic given the map: said, not hidden
    grouped = replay(df, "svr:both", budget=15, seeds=4,
                     searcher_kwargs={"svr:both": {"cache_dir": tmp_path, "n_maps": 2}}).result()
    assert summarize(grouped, ref)["ci"]["unit"] == "map"


def _strip_seconds(obj):
    if isinstance(obj, dict):
        return {k: _strip_seconds(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [_strip_seconds(v) for v in obj]
    return obj


def test_two_cli_replays_from_fresh_caches_give_identical_json(tmp_path, capsys, monkeypatch):
    """One replay in this process and one in a fresh process, each with an empty cache directory: identical JSON
    (apart from the wall-clock "seconds" fields)."""
    table = tmp_path / "syn"
    synthetic_benchmark_table(70, seed=5).save(table)
    args = ["replay", "--table", str(table), "--algorithms", "knr:outputs,svr:both", "--budget", "15", "--seeds", "3",
            "--json"]
    monkeypatch.setenv("ACT_BENCH_CACHE", str(tmp_path / "cache1"))
    _embedding._MEMORY.clear()
    _embedding._GRAPHS.clear()
    assert main(args) == 0
    here = json.loads(capsys.readouterr().out)
    env = {**os.environ, "ACT_BENCH_CACHE": str(tmp_path / "cache2")}
    code = "import sys; from act_bench.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    there = json.loads(out.stdout)
    assert _strip_seconds(here) == _strip_seconds(there)
    assert {"random", "random:finite-outputs", "random:both-valid"} <= set(here["algorithms"])
    assert len(list((tmp_path / "cache2" / "embeddings").glob("*.npy"))) == 6   # 3 seeds x 2 feature sets
