"""The one replay entry point, ``evaluation.replay``: the same numbers as the six functions it replaced (fingerprints
recorded by those functions at 0e10007, tests/data/replay_golden.json), the deprecated wrappers (one warning, the
new spelling named, the same numbers), one-line errors, and no torch for torch-free searchers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _replay_golden import result_print, summary_print, tables

import evaluation
from act_bench.errors import InvalidInputError
from evaluation import Replay, ReplayResult, WarmStart, replay

GOLDEN = json.loads((Path(__file__).parent / "data" / "replay_golden.json").read_text())
TELL = (["relu(x)", "tanh(x)"], [0.5, 0.2])


@pytest.fixture(scope="module")
def t():
    return tables()


@pytest.fixture(scope="module")
def kw(tmp_path_factory):
    return {"knr:outputs": {"cache_dir": str(tmp_path_factory.mktemp("maps")), "n_maps": 2}}


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_single_table_replays_equal_the_old_replay(t, kw):
    for a in ("random", "evolution"):
        run = replay(t["plain"], a, budget=30, seeds=4, workers=2)
        assert isinstance(run, Replay) and run.algorithms == [a]
        assert result_print(run.result()) == GOLDEN[f"single/{a}"]
    run = replay(t["plain"], "knr:outputs", budget=30, seeds=3, searcher_kwargs=kw, checkpoints=(10, 25))
    assert result_print(run.result("knr:outputs")) == GOLDEN["single/knr:outputs"]
    run = replay(t["plain"], "evolution", budget=25, seeds=[1, 4], warm_start=TELL)
    assert run.cold is None and result_print(run.result()) == GOLDEN["single/warm_tuple"]


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_several_algorithms_over_two_processes_equal_the_old_grid(t, kw):
    run = replay(t["plain"], ["random", "evolution", "knr:outputs"], budget=25, seeds=4, workers=3, jobs=2,
                 searcher_kwargs=kw)
    assert run.settings.jobs == 2 and run.settings.workers == 3
    for a in ("random", "evolution", "knr:outputs"):
        assert result_print(run.results[""][a]) == GOLDEN[f"grid_jobs2/{a}"]


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_schedulers_equal_the_old_multifidelity_replay(t):
    for sched, extra in (("asha", {"budget": 30}), ("sh", {"time_budget": 700.0}), ("none", {"budget": 20})):
        run = replay(t["curves"], "random", scheduler=sched, seeds=3, workers=2, **extra)
        assert run.settings.scheduler == sched
        assert result_print(run.result()) == GOLDEN[f"mf/{sched}"]
    # a time budget alone means scheduler "none"
    assert replay(t["curves"], "random", time_budget=300.0, seeds=2).settings.scheduler == "none"


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_summaries_equal_the_old_compare(t, kw):
    run = replay({"plain": t["plain"]}, ["random", "knr:outputs"], budget=20, seeds=3, workers=2,
                 searcher_kwargs=kw, baselines=True)
    assert run.baselines == ["random:finite-outputs"]
    assert summary_print(run.summary()) == GOLDEN["compare/summary"]
    for a, r in run.results["plain"].items():
        assert result_print(r) == GOLDEN[f"compare/{a}"]
    assert summary_print(replay(t["plain"], ["evolution"], budget=15, seeds=2).summary()) == \
        GOLDEN["compare_nobase/summary"]
    run = replay({"curves": t["curves"]}, ["random", "evolution"], scheduler="asha", budget=25, seeds=3, workers=3,
                 baselines=True)
    assert summary_print(run.summary()) == GOLDEN["compare_mf/summary"]
    for a, r in run.results["curves"].items():
        assert result_print(r) == GOLDEN[f"compare_mf/{a}"]


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_warm_start_equals_the_old_warm_start_replay(t):
    run = replay(t["plain"], ["random", "evolution"], budget=30, seeds=4, checkpoints=(),
                 warm_start=WarmStart(t["source"], top_n=10))
    assert run.settings.warm_start == "table" and len(run.told[0]) == 10 and set(run.cold[""]) == {"random",
                                                                                                  "evolution"}
    assert summary_print(run.warm_start_summary()) == GOLDEN["warm/summary"]
    run = replay(t["plain"], "evolution", budget=20, seeds=3, jobs=2, checkpoints=(), warm_start=t["source"])
    assert summary_print(run.warm_start_summary()) == GOLDEN["warm_all_jobs2/summary"]


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_several_tables_equal_the_suite_and_its_ranks(t):
    run = replay({"curves": t["curves"], "curves_b": t["curves_b"]}, ["random", "evolution"], scheduler="asha",
                 budget=25, seeds=4, workers=2, baselines=True)
    assert run.tables == ["curves", "curves_b"]
    for name in run.tables:
        assert summary_print(run.summary(name)) == GOLDEN[f"suite/{name}/summary"]
    assert summary_print(run.ranks(n_boot=200)) == GOLDEN["suite/ranks"]
    both = run.summary(n_boot=200)
    assert set(both) == {"tables", "rank_by", "ranks"} and summary_print(both["ranks"]) == GOLDEN["suite/ranks"]
    with pytest.raises(InvalidInputError, match="covers 2 tables"):
        run.result("random")


def test_to_frame_is_the_trajectories(t):
    run = replay({"a": t["plain"]}, ["random", "evolution"], budget=12, seeds=[3, 5])
    df = run.to_frame()
    assert len(df) == 2 * 2 * 12 and list(df["seed"].unique()) == [3, 5]
    res = run.result("evolution", table="a")
    mine = df[(df.algorithm == "evolution") & (df.seed == 5)]
    assert np.array_equal(mine["row"].to_numpy(), res.rows[1]) and np.array_equal(mine["step"], np.arange(1, 13))
    assert np.array_equal(mine["objective"].to_numpy(), res.objective[1])
    assert list(mine["function"]) == [str(t["plain"]["function"].iloc[r]) for r in res.rows[1]]


def test_write_figures(t, tmp_path):
    run = replay(t["plain"], "random", budget=10, seeds=2, workers=2)
    paths = run.write_figures(tmp_path, stem="curves")
    assert [p.name for p in paths] == ["curves.png", "curves_time.png"] and all(p.stat().st_size for p in paths)


def _one_warning(record, new: str) -> None:
    dep = [w for w in record if issubclass(w.category, DeprecationWarning)]
    assert len(dep) == 1, [str(w.message) for w in dep]
    assert "deprecated" in str(dep[0].message) and new in str(dep[0].message)
    assert dep[0].filename == __file__   # points at the caller


def test_old_functions_warn_once_and_give_the_same_numbers(t, kw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = evaluation.replay("random", t["plain"], 30, 4, 2)
    _one_warning(rec, "evaluation.replay(table, searcher, budget=")
    assert isinstance(res, ReplayResult) and result_print(res) == GOLDEN["single/random"]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = evaluation.replay("evolution", t["plain"], budget=25, seeds=[1, 4], warm_start=TELL, name="evo")
    _one_warning(rec, "evaluation.replay(table, searcher")
    assert res.name == "evo" and result_print(res) == GOLDEN["single/warm_tuple"]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = evaluation.replay_multifidelity("random", t["curves"], scheduler="sh", time_budget=700.0, seeds=3,
                                              workers=2)
    _one_warning(rec, "evaluation.replay(table, searcher, scheduler=")
    assert result_print(res) == GOLDEN["mf/sh"]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        s, rs = evaluation.compare(t["plain"], ["evolution"], evals=15, seeds=2, baselines=False)
    _one_warning(rec, "evaluation.replay({name: table}, algorithms, budget=")
    assert summary_print(s) == GOLDEN["compare_nobase/summary"] and list(rs) == ["evolution"]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        s, _ = evaluation.compare_multifidelity(t["curves"], ["random", "evolution"], scheduler="asha", evals=25,
                                                seeds=3, workers=3, table_name="curves")
    _one_warning(rec, "scheduler=, budget=")
    assert summary_print(s) == GOLDEN["compare_mf/summary"]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        w = evaluation.warm_start_replay(t["source"], t["plain"], ["random", "evolution"], top_n=10, evals=30,
                                         seeds=4)
    _one_warning(rec, "warm_start=WarmStart(source, top_n)")
    assert summary_print(w) == GOLDEN["warm/summary"]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        grid = evaluation.replay_grid(["random", "evolution"], t["plain"], 30, 4, 2)
    _one_warning(rec, "evaluation.replay(table, algorithms, budget=")
    assert result_print(grid["evolution"]) == GOLDEN["single/evolution"]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        run = replay(t["plain"], "random", evals=30, seeds=4, n_jobs=1, workers=2)
    assert sorted(str(w.message).split(";")[1].strip() for w in rec) == ["use budget=", "use jobs="]
    assert all(w.filename == __file__ for w in rec)
    assert result_print(run.result()) == GOLDEN["single/random"]


def test_old_names_left_the_public_list():
    for name in ("compare", "compare_multifidelity", "replay_grid", "replay_multifidelity", "warm_start_replay"):
        assert name not in evaluation.__all__ and callable(getattr(evaluation, name))
    assert {"replay", "Replay", "ReplaySettings", "WarmStart"} <= set(evaluation.__all__)
    with pytest.raises(AttributeError):
        evaluation.no_such_function  # noqa: B018


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"algorithms": "nope"}, "unknown algorithm(s) 'nope'; valid algorithms: "),
    ({"algorithms": ["randm", "knr:bth"]}, ("unknown algorithm(s) 'randm', 'knr:bth' (did you mean 'random', "
                                            "'knr:both'?); valid algorithms: ")),
    ({"budget": 0}, "parameter budget of replay must be"),
    ({"evals": 5}, "replay takes budget (evals is its deprecated name), not both"),
    ({"scheduler": "hyperband"}, "parameter scheduler of replay must be one of none, sh, asha; got 'hyperband'"),
    ({"seeds": None}, "parameter seeds of replay is required"),
    ({"budget": None}, "parameter budget of replay is required"),
    ({"jobs": 0}, "parameter jobs of replay must be"),
    ({"algorithms": ["random", "random"]}, "algorithms are listed twice"),
    ({"searcher_kwargs": {"n_estimators": 5}}, "parameter searcher_kwargs of replay maps algorithm names"),
    ({"scheduler": "asha", "time_budget": 10.0}, "exactly one of budget and time_budget"),
    ({"table": {"a": 3}}, "parameter table of replay must map table names"),
    ({"table": "act-bench-mnist1d"}, "parameter table of replay must be a BenchmarkTable"),
    ({"warm_start": 7}, "parameter warm_start of replay must be a table, a WarmStart or (functions, values)"),
])
def test_bad_arguments_are_one_line_errors(t, kwargs, message):
    call = {"table": t["plain"], "algorithms": "random", "budget": 5, "seeds": 2, **kwargs}
    with pytest.raises(InvalidInputError) as exc:
        replay(call.pop("table"), call.pop("algorithms"), **call)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_summary_of_a_scheduler_without_curves_names_the_table(t):
    with pytest.raises(InvalidInputError, match="table 'b': ") as exc:
        replay({"a": t["curves"], "b": t["plain"]}, "random", scheduler="asha", budget=5, seeds=1)
    assert "\n" not in str(exc.value)


_TORCH_FREE = textwrap.dedent("""
    import sys, tempfile
    import numpy as np, pandas as pd
    import evaluation
    assert "torch" not in sys.modules, "import evaluation imported torch"
    from act_bench.space import BASELINE_FUNCTIONS
    from evaluation import WarmStart, replay

    def table(seed, n=60, epochs=6):
        rng = np.random.default_rng(seed)
        names = list(BASELINE_FUNCTIONS) + [f"f{i}(x)" for i in range(n - len(BASELINE_FUNCTIONS))]
        acc, rate, runtime = rng.random(n), rng.uniform(0.2, 2, n), rng.uniform(10, 60, n)
        ep = np.arange(1, epochs + 1)
        return pd.DataFrame({
            "function": names, "equivalents": [[x] for x in names],
            "outputs": list(rng.random((n, 16), dtype=np.float32)), "val_accuracy": acc,
            "test_accuracy": acc + rng.normal(0, 0.01, n), "runtime": runtime,
            "curve_val_accuracy": [list(0.1 + (a - 0.1) * (1 - np.exp(-r * ep)) / (1 - np.exp(-r * epochs)))
                                   for a, r in zip(acc, rate)],
            "curve_seconds": [list(s / epochs * ep) for s in runtime]})

    algos = ["random", "evolution", "knr:outputs"]
    kw = {"knr:outputs": {"cache_dir": tempfile.mkdtemp()}}
    a, b = table(0), table(1)
    runs = [replay(a, algos, budget=15, seeds=2, searcher_kwargs=kw, baselines=True),
            replay({"a": a, "b": b}, algos, budget=15, seeds=2, searcher_kwargs=kw),
            replay(a, algos, scheduler="asha", budget=15, seeds=2, workers=2, searcher_kwargs=kw),
            replay(a, algos, budget=15, seeds=2, warm_start=WarmStart(b, top_n=5), searcher_kwargs=kw)]
    runs[0].summary(); runs[1].summary(n_boot=20); runs[2].summary(); runs[3].warm_start_summary()
    assert "torch" not in sys.modules, "a replay of torch-free searchers imported torch"
    print("torch-free")
""")


def test_import_and_replay_of_torch_free_searchers_never_import_torch():
    out = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", _TORCH_FREE],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("torch-free")


def test_replay_of_a_dataframe_needs_no_name(t):
    run = replay(pd.DataFrame(t["plain"]), "random", budget=5, seeds=1)
    assert run.tables == [""] and run.summary()["table"] == ""
