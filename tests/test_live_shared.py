"""The live search and the replay share their searcher; the Python API with a user's own network and failures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _recipes import tiny_recipe
from torch import nn

from act_bench.engine import Journal as LiveJournal
from act_bench.live import LiveSearch, export_table, journal_status
from act_bench.space import ActivationFunction
from data_builders.build import train_run

pytestmark = pytest.mark.slow

REFUSED = "tanh(x)"


def _tiny():
    return tiny_recipe()


def user_mlp(activation) -> nn.Module:
    """A user's own network for MNIST-1D (inputs of shape (n, 1, 40)); it refuses one activation on purpose."""
    module = activation()
    if isinstance(module, ActivationFunction) and str(module.expr) == REFUSED:
        raise RuntimeError(f"this model refuses {REFUSED}")
    return nn.Sequential(nn.Flatten(), nn.Linear(40, 32), module, nn.Linear(32, 10))


def test_live_search_and_replay_make_the_same_suggestions(tmp_path, monkeypatch):
    """Same searcher (knr:both), same seed, same results -> the same suggestions, in the same order.

    The live search trains on MNIST-1D with one worker (results arrive in suggestion order); its journal is exported
    to a benchmark table, and ``evaluation.replay`` drives a fresh searcher with that table as the oracle.
    """
    from evaluation import replay

    monkeypatch.setenv("ACT_BENCH_CACHE", str(tmp_path / "cache"))
    journal = tmp_path / "live.sqlite"
    search = LiveSearch(recipe=_tiny(), journal=journal, spaces=["unary(x)"], searcher="knr:both", seed=4,
                        fim_warmup=1000, background_features=False, workers=1, progress=False)
    summary = search.run(budget=27)
    assert summary.stopped == "exhausted"  # every function with valid features was evaluated
    with LiveJournal.open(journal, readonly=True) as j:
        live = [r.function for r in j.results()]
        values = [r.val_accuracy for r in j.results()]
        n_valid = sum(f["fim_valid"] for f in j.features().values())
    assert len(live) == n_valid == summary.evaluated and len(set(live)) == len(live)
    assert live[:8] == ["elu(x)", "relu(x)", "selu(x)", "sigmoid(x)", "softplus(x)", "softsign(x)", "swish(x)",
                        "tanh(x)"]
    assert len(set(values)) > 3, "the tiny recipe must give the surrogate distinct values to work with"

    table = search.to_table()
    res = replay(table, "knr:both", budget=len(live), seeds=[4], workers=1).result()
    names = list(table.to_pandas("functions")["function"])
    replayed = [names[r] for r in res.rows[0]]
    assert replayed == live
    np.testing.assert_array_equal(res.objective[0], values)
    # controls: the order is the surrogate's, not one any searcher would produce (random search, same seed), and it
    # depends on the results (the same searcher told other values suggests differently)
    other = replay(table, "random", budget=len(live), seeds=[4], workers=1).result()
    assert [names[r] for r in other.rows[0]][:8] == live[:8] and [names[r] for r in other.rows[0]] != live
    frame = table.to_pandas("functions")
    flipped = frame.assign(val_accuracy=1.0 - frame["val_accuracy"])
    flipped.attrs["fim_layout"] = table.metadata["fim_layout"]
    told_otherwise = replay(flipped, "knr:both", budget=len(live), seeds=[4], workers=1).result()
    assert [names[r] for r in told_otherwise.rows[0]] != live


def test_user_network_failures_are_retried_then_recorded(tmp_path):
    journal = tmp_path / "api.sqlite"
    recipe = _tiny()
    search = LiveSearch(recipe=recipe, journal=journal, spaces=[], searcher="random", seed=0, fim_warmup=8,
                        model_fn=user_mlp, workers=1, retries=1, progress=False)
    summary = search.run(budget=8)
    assert summary.evaluated == 8 and summary.failed == 1 and summary.stopped == "budget"
    with LiveJournal.open(journal, readonly=True) as j:
        results = {r.function: r for r in j.results()}
        failures = j.failures()
        features = j.features()
        names = j.candidates()[0]
        layout = j.config()["fim_layout"]
    assert set(results) == set(names) and len(names) == 8
    bad = results[REFUSED]
    assert bad.status == "failed" and bad.attempts == 2 and math.isnan(bad.val_accuracy)
    assert f"this model refuses {REFUSED}" in bad.error
    # the run and the FIM job of the refused function each failed twice (retried once), every error kept
    assert [(f["function"], f["kind"], f["attempt"]) for f in failures if f["kind"] == "run"] == \
        [(REFUSED, "run", 0), (REFUSED, "run", 1)]
    assert [(f["function"], f["attempt"]) for f in failures if f["kind"] == "fim"] == [(REFUSED, 0), (REFUSED, 1)]
    assert all("refuses" in f["error"] for f in failures) and len(failures) == 4
    # the layout is the user's network's: Linear(40, 32) -> 13 bins, Linear(32, 10) -> 3 bins
    assert [(l["weights"], l["bins"]) for l in layout] == [(40 * 32 + 32, 13), (32 * 10 + 10, 3)]
    row = names.index(REFUSED)
    assert not features[row]["fim_valid"] and "refuses" in features[row]["fim_reason"]
    assert all(features[i]["fim_valid"] and features[i]["fim_cdf"].shape == (16,) for i in range(8) if i != row)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers
    try:
        for f in ("relu(x)", "swish(x)"):
            ref = train_run(recipe, f, 0, model_fn=user_mlp)
            assert results[f].status == ref.status == "ok"
            assert results[f].val_accuracy == ref.val_accuracy and results[f].test_loss == pytest.approx(ref.test_loss)
    finally:
        torch.set_num_threads(threads)
    st = journal_status(journal)
    assert st["evaluated"] == 8 and st["failed"] == 1 and st["failed_attempts"] == 4 and st["running"] == 0
    ok = [r for r in results.values() if r.status == "ok"]
    assert st["best"]["val_accuracy"] == max(r.val_accuracy for r in ok)
    table = export_table(journal)
    frame = table.to_pandas("functions").set_index("function")
    assert frame.loc[REFUSED, "status"] == "failed" and frame.loc["relu(x)", "status"] == "ok"
    assert table.metadata["model"].endswith("user_mlp")


def test_warmup_progress_ends_with_its_final_count(tmp_path, capsys):
    # stderr is not a terminal here: the warm-up bar still reaches stderr and closes at 4/4, then says so in words
    search = LiveSearch(recipe=_tiny(), journal=tmp_path / "w.sqlite", spaces=["unary(x)"], searcher="random",
                        seed=0, fim_warmup=4, background_features=False, workers=1, progress=True)
    search.run(budget=1)
    err = capsys.readouterr().err
    assert "FIM warm-up" in err and "4/4 [" in err
    assert "FIM features: 4/4 computed" in err
