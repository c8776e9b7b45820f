"""Replay over several tables and with schedulers: average ranks against a brute-force computation, the CLI's
``--table A,B``, ``--scheduler``, ``--time-budget`` (JSON and one-line errors), the suite names of ``load_table``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from act_bench.cli import main
from act_bench.errors import InvalidInputError
from act_bench.tables import SUITE_TABLES, load_table
from evaluation import average_ranks, replay
from evaluation._synthetic import synthetic_benchmark_table, synthetic_table


@pytest.fixture(scope="module")
def two_tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    a, b = root / "syn-a", root / "syn-b"
    synthetic_benchmark_table(120, seed=0, name="syn-a").save(a)
    synthetic_benchmark_table(120, seed=1, name="syn-b", target="swish(x)").save(b)
    return str(a), str(b)


def _brute_force_rank(values: list[float], i: int) -> float:
    """Rank of entry i among values (1 = smallest), ties sharing the average of the positions they span."""
    below = sum(v < values[i] for v in values)
    equal = sum(v == values[i] for v in values)
    return below + (equal + 1) / 2


def test_average_ranks_against_brute_force():
    gen = np.random.default_rng(0)
    scores = {}
    for t in ("t1", "t2", "t3"):
        m = gen.integers(1, 6, size=(4, 7)).astype(float)  # ties on purpose
        m[0, 2] = np.inf
        m[1, 2] = np.inf
        scores[t] = {a: m[i] for i, a in enumerate("abcd")}
    out = average_ranks(scores, n_boot=200, seed=1)
    for i, a in enumerate("abcd"):
        per_table = []
        for t in scores:
            ranks = [_brute_force_rank([scores[t][x][s] for x in "abcd"], i) for s in range(7)]
            per_table.append(np.mean(ranks))
            assert out["algorithms"][a]["per_table"][t] == pytest.approx(np.mean(ranks))
        assert out["algorithms"][a]["mean_rank"] == pytest.approx(np.mean(per_table))
        lo, hi = out["algorithms"][a]["ci95"]
        assert lo <= hi
    # the ranks of the algorithms of one seed sum to 1 + 2 + 3 + 4, so do their means
    assert sum(v["mean_rank"] for v in out["algorithms"].values()) == pytest.approx(10.0)
    # larger is better flips the order
    flipped = average_ranks(scores, higher_is_better=True, n_boot=10)
    for a in "abcd":
        assert flipped["algorithms"][a]["mean_rank"] == pytest.approx(5 - out["algorithms"][a]["mean_rank"])
    # the bootstrap is seeded and resamples seeds: a table of identical seeds has a zero-width interval
    same = {"t": {"a": np.ones(5), "b": np.full(5, 2.0)}}
    assert average_ranks(same, n_boot=50)["algorithms"]["a"]["ci95"] == [1.0, 1.0]
    assert average_ranks(scores, n_boot=50, seed=3) == average_ranks(scores, n_boot=50, seed=3)
    with pytest.raises(InvalidInputError, match="every table must list"):
        average_ranks({"t1": {"a": np.ones(2)}, "t2": {"b": np.ones(2)}})


def test_cli_several_tables_reports_each_table_and_average_ranks(two_tables, capsys):
    a, b = two_tables
    code = main(["replay", "--table", f"{a},{b}", "--algorithms", "random,evolution", "--budget", "15",
                 "--seeds", "6", "--bootstrap", "50", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out["tables"]) == ["syn-a", "syn-b"] and out["rank_by"] == "evals_to_top1pct"
    for name, path in (("syn-a", a), ("syn-b", b)):
        # each table's block equals the single-table replay of that table
        assert main(["replay", "--table", path, "--algorithms", "random,evolution", "--budget", "15", "--seeds", "6",
                     "--json"]) == 0
        single = json.loads(capsys.readouterr().out)
        for algo in ("random", "evolution"):
            mine = dict(out["tables"][name]["algorithms"][algo])
            ref = dict(single["algorithms"][algo])
            for block in (mine, ref):
                block.pop("seconds")
            assert mine.pop("simulated_seconds")["max"] > 0
            assert mine == ref
    ranks = out["ranks"]["algorithms"]
    assert sum(r["mean_rank"] for r in ranks.values()) == pytest.approx(3.0)
    # human output names both tables and the ranks
    assert main(["replay", "--table", f"{a},{b}", "--algorithms", "random,evolution", "--budget", "5",
                 "--seeds", "3", "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "table syn-a" in text and "table syn-b" in text and "average rank over 2 table(s)" in text


def test_cli_time_budget_reports_simulated_seconds(two_tables, capsys):
    a, _ = two_tables
    assert main(["replay", "--table", a, "--algorithms", "random", "--time-budget", "500", "--workers", "3",
                 "--seeds", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    block = out["tables"]["syn-a"]
    assert block["time_budget"] == 500.0 and block["evals"] is None
    sec = block["algorithms"]["random"]["simulated_seconds"]
    assert 0 < sec["mean"] <= sec["max"] <= 500.0
    # the same replay through the library
    ref = replay(load_table(a), "random", scheduler="none", time_budget=500.0, seeds=4, workers=3).result()
    assert sec["max"] == pytest.approx(float(ref.simulated_seconds.max()))


@pytest.mark.parametrize("argv, message", [
    (["--budget", "5", "--time-budget", "10"], "--budget and --time-budget exclude each other"),
    # tables saved without curves load with empty curve columns (act_bench.tables): "learning curves are all empty"
    (["--scheduler", "asha"], "learning curves are all empty"),
    (["--time-budget", "-3"], "expected a number of seconds > 0"),
    (["--eta", "1"], "expected an integer >= 2"),
])
def test_cli_bad_suite_options_give_one_line(two_tables, capsys, argv, message):
    a, b = two_tables
    code = None
    try:
        code = main(["replay", "--table", f"{a},{b}", "--algorithms", "random", "--seeds", "2", *argv])
    except SystemExit as exc:  # argparse type errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("name", SUITE_TABLES[1:])
def test_load_table_knows_the_suite_names(name, monkeypatch, tmp_path):
    monkeypatch.setenv("ACT_BENCH_DATA_DIR", str(tmp_path))
    try:
        table = load_table(name)
    except InvalidInputError as exc:  # not built yet in this checkout: a clear message naming the build command
        assert "of the MNIST-1D suite is not built yet" in str(exc) and f"--recipe {name}" in str(exc)
    else:
        assert table.name == name


def test_schedulers_look_at_more_functions_at_equal_simulated_time():
    df = synthetic_table(400, seed=7, epochs=9)
    kw = {"time_budget": 2000.0, "seeds": 8, "workers": 4}
    full = replay(df, ["random"], scheduler="none", baselines=True, **kw).summary()
    asha = replay(df, ["random"], scheduler="asha", baselines=True, **kw).summary()
    sh = replay(df, ["random"], scheduler="sh", baselines=True, **kw).summary()
    for s in (full, asha, sh):
        assert s["algorithms"]["random"]["simulated_seconds"]["max"] <= 2000.0
    # early stopping looks at more functions in the same simulated time
    assert asha["algorithms"]["random"]["proposals"] > full["algorithms"]["random"]["proposals"]
    assert sh["algorithms"]["random"]["proposals"] > full["algorithms"]["random"]["proposals"]
    assert asha["scheduler"]["rungs"] == [1, 3, 9]
    # every proposal either completed (finite objective) or stopped at a rung below 9 epochs
    res = replay(df, "random", scheduler="asha", **kw).result()
    ok = res.rows >= 0
    assert set(np.unique(res.epochs[ok]).tolist()) <= {1, 3, 9}
    assert (np.isfinite(res.objective[ok]) == (res.epochs[ok] == 9)).all()
