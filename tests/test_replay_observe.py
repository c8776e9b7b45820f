"""Replay observation models (``observe="median"|"run"``) and scoring by the best estimate by twin group: what a
searcher is told never enters the scores; run draws are deterministic per (replay seed, function) and shared by all
searchers of a seed; twins are scored as one function; multi-fidelity replays observe the drawn run's curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from act_bench.errors import InvalidInputError
from act_bench.search import CandidateSet
from act_bench.tables import BenchmarkTable, group_ranking, top_groups
from evaluation import TableOracle, TableReference, replay, summarize

NAMES = ["elu(x)", "relu(x)", "selu(x)", "sigmoid(x)", "softplus(x)", "softsign(x)", "swish(x)", "tanh(x)",
         "mul(identity(x),tanh(x))", "div(tanh(x),reciprocal(x))", "abs(x)", "erf(x)", "arctan(x)", "sinh(x)",
         "square(x)", "exp(x)", "cosh(x)", "log_sigmoid(x)", "bessel_i0e(x)", "arcsinh(x)", "expm1(x)", "erfc(x)",
         "hard_sigmoid(x)", "max(x,tanh(x))", "min(x,tanh(x))", "add(x,tanh(x))", "sub(x,tanh(x))",
         "mul(x,erf(x))", "max(sigmoid(x),tanh(x))", "add(relu(x),erf(x))"]
EPOCHS = 4


@pytest.fixture(scope="module")
def table():
    """30 functions (one twin pair: x*tanh(x) spelled twice), 3 runs each and 10 for every fourth, noisy runs around
    a per-function level, a few diverged runs at chance; per-epoch curves."""
    rng = np.random.default_rng(0)
    level = rng.uniform(0.4, 0.9, len(NAMES))
    rows = []
    for i, f in enumerate(NAMES):
        for seed in range(10 if i % 4 == 0 else 3):
            diverged = rng.random() < 0.1
            val = 0.1 if diverged else float(np.clip(level[i] + 0.05 * rng.normal(), 0, 1))
            rt = float(rng.uniform(5, 15))
            curve = list(np.linspace(0.1, val, EPOCHS))
            rows.append({"function": f, "seed": seed, "train_accuracy": val, "val_accuracy": val,
                         "test_accuracy": val - 0.01, "train_loss": 1.0, "val_loss": 1.0, "test_loss": 1.0,
                         "runtime": rt, "status": "diverged" if diverged else "ok",
                         "curve_val_accuracy": curve, "curve_val_loss": [1.0] * EPOCHS,
                         "curve_train_loss": [1.0] * EPOCHS, "curve_seconds": list(np.linspace(rt / EPOCHS, rt, EPOCHS))})
    return BenchmarkTable.from_runs(pd.DataFrame(rows), metadata={"name": "observe-test", "build": {"seeds": [0, 1, 2]}})


def test_truth_is_the_best_estimate_by_twin_group(table):
    oracle = TableOracle.from_table(table)
    ranking = group_ranking(table, by="estimate")
    f = table.functions
    twins = [NAMES.index("mul(identity(x),tanh(x))"), NAMES.index("div(tanh(x),reciprocal(x))")]
    assert f["twin_group"].iloc[twins[0]] == f["twin_group"].iloc[twins[1]]
    pooled = table.runs[table.runs["function"].isin([NAMES[i] for i in twins])]["val_accuracy"].mean()
    assert oracle.truth[twins[0]] == oracle.truth[twins[1]] == pytest.approx(pooled)
    single = NAMES.index("abs(x)")
    assert oracle.truth[single] == pytest.approx(f["val_accuracy_mean"].iloc[single])
    # the top-1 % threshold is the one definition: act_bench.tables.top_groups of the estimate ranking
    ref = TableReference.from_oracle(oracle, None)
    assert ref.top1 == top_groups(ranking)["value"].min() and ref.n == len(ranking)


def test_run_draws_are_per_seed_and_function_and_shared_by_searchers(table):
    oracle = TableOracle.from_table(table)
    a, b = oracle.observations("run", 3), oracle.observations("run", 3)
    np.testing.assert_array_equal(a.run, b.run)
    assert (a.run != oracle.observations("run", 4).run).any()
    for i, f in enumerate(NAMES):
        vals = table.runs.loc[table.runs["function"] == f].sort_values("seed")["val_accuracy"].to_numpy()
        assert 0 <= a.run[i] < vals.size and a.val[i] == vals[a.run[i]]
    # two searchers of one seed are told the same run of every function they both evaluate
    r1 = replay(table, "random", budget=20, seeds=[3], observe="run").result()
    r2 = replay(table, "evolution", budget=20, seeds=[3], observe="run",
                searcher_kwargs={"evolution": {"population_size": 4, "sample_size": 2}}).result()
    seen = {}
    for res in (r1, r2):
        for row, v in zip(res.rows[0], res.observed[0]):
            assert seen.setdefault(int(row), v) == v or (np.isnan(v) and np.isnan(seen[int(row)]))
            assert v == a.val[row] or (np.isnan(v) and np.isnan(a.val[row]))
    with pytest.raises(InvalidInputError, match="parameter observe of replay must be one of median, run"):
        replay(table, "random", budget=5, seeds=1, observe="seed")


def test_scores_never_use_the_observed_value(table):
    """Random search does not look at what it is told, so under both observation models it evaluates the same
    functions, and every score is the same; the observed values differ."""
    oracle = TableOracle.from_table(table)
    cands = CandidateSet.from_table(table)
    ref = TableReference.from_oracle(oracle, cands.index_of("relu(x)"))
    med = replay(table, "random", budget=25, seeds=6, observe="median").result()
    run = replay(table, "random", budget=25, seeds=6, observe="run").result()
    np.testing.assert_array_equal(med.rows, run.rows)
    np.testing.assert_array_equal(med.objective, oracle.truth[med.rows])
    np.testing.assert_array_equal(med.observed, oracle.objective[med.rows])
    assert not np.array_equal(med.observed, run.observed, equal_nan=True)
    sm, sr = summarize(med, ref), summarize(run, ref)
    for key in ("mean_best", "evals_to_top1pct", "final_val_accuracy", "final_test_accuracy", "final_regret"):
        assert sm[key] == sr[key]
    # the summary says what the searchers observed and what they are scored on
    summary = replay(table, ["random"], budget=10, seeds=2, observe="run", baselines=False).summary()
    assert summary["observe"] == "run" and "best estimate" in summary["scored_on"]
    assert summary["n_twin_groups"] == len(NAMES) - 1


def test_multifidelity_observes_the_drawn_runs_curve(table):
    oracle = TableOracle.from_table(table)
    res = replay(table, "random", scheduler="none", budget=15, seeds=[2], observe="run").result()
    obs = oracle.observations("run", 2)
    rows = res.rows[0][res.rows[0] >= 0]
    np.testing.assert_array_equal(res.observed[0][:rows.size], obs.val[rows])       # the drawn run's last epoch
    np.testing.assert_array_equal(res.objective[0][:rows.size], oracle.truth[rows])  # scored on the estimate
    asha = replay(table, "random", scheduler="asha", budget=15, seeds=[2], observe="run").result()
    runs = table.runs.sort_values(["function", "seed"])
    for row, ep, seen in zip(asha.rows[0], asha.epochs[0], asha.observed[0]):
        if row < 0:
            continue
        curve = runs[runs["function"] == NAMES[row]]["curve_val_accuracy"].iloc[obs.run[row]]
        assert seen == pytest.approx(curve[ep - 1] if ep < EPOCHS else obs.val[row])
