"""``act-bench export-synetune``: the folder loads with Syne Tune's own blackbox-repository reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from syne_tune.blackbox_repository.blackbox_tabular import deserialize
from syne_tune.config_space import Categorical

from act_bench.cli import main
from act_bench.interop import SYNETUNE_FILES, SYNETUNE_OBJECTIVES, export_synetune
from act_bench.tables import BenchmarkTable, load_table

TINY = Path(__file__).resolve().parent / "data" / "tiny-table"


def test_blackbox_holds_every_run_on_a_seed_axis(tmp_path, capsys):
    table = load_table(TINY)
    out = tmp_path / "bb"
    assert main(["export-synetune", "--table", str(TINY), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == sorted(SYNETUNE_FILES)
    bb = deserialize(out)[table.name]                       # Syne Tune's reader
    names = list(table.functions["function"])
    assert list(bb.hyperparameters["activation"]) == names
    space = bb.configuration_space["activation"]
    assert isinstance(space, Categorical) and list(space.categories) == names
    seeds = sorted(table.runs["seed"].unique())
    assert summary["seeds"] == seeds and summary["configurations"] == len(names)
    assert bb.objectives_names == list(SYNETUNE_OBJECTIVES)
    assert bb.objectives_evaluations.shape == (len(names), len(seeds), 1, len(SYNETUNE_OBJECTIVES))
    assert list(bb.fidelity_values) == [1]  # the tiny table records no epochs: one fidelity, the final one
    # every value equals the run it came from (independent: a pandas pivot of the runs)
    for k, metric in enumerate(SYNETUNE_OBJECTIVES):
        ref = table.runs.pivot(index="function", columns="seed", values=metric).reindex(index=names, columns=seeds)
        np.testing.assert_array_equal(bb.objectives_evaluations[:, :, 0, k], ref.to_numpy(dtype=np.float32))
    # the blackbox answers a query the way a Syne Tune benchmark is queried (by configuration index and seed;
    # Syne Tune 0.16's lookup by a dict of one hyperparameter fails under pandas 3, in its own code)
    i = names.index("relu(x)")
    got = bb.objective_function(i, seed=1)                 # (fidelities, objectives)
    run = table.runs[(table.runs["function"] == "relu(x)") & (table.runs["seed"] == seeds[1])].iloc[0]
    assert got.shape == (1, len(SYNETUNE_OBJECTIVES))
    assert got[0, 0] == np.float32(run["val_accuracy"]) and got[0, -1] == np.float32(run["runtime"])


def test_table_without_runs_has_one_median_entry(tmp_path):
    table = load_table(TINY)
    medians = BenchmarkTable(table.functions, None, {**table.metadata, "name": "medians-only", "recipe": {"epochs": 7}})
    bb = deserialize(export_synetune(medians, tmp_path / "bb"))["medians-only"]
    assert bb.objectives_evaluations.shape == (len(table), 1, 1, len(SYNETUNE_OBJECTIVES))
    expected = pd.DataFrame({m: table.functions[m] for m in SYNETUNE_OBJECTIVES}).to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(bb.objectives_evaluations[:, 0, 0, :], expected)
    meta = json.loads((tmp_path / "bb" / "metadata.json").read_text())
    assert meta["seeds"] == ["median"] and list(bb.fidelity_values) == [7]


def test_existing_output_is_refused(tmp_path, capsys):
    (tmp_path / "bb").mkdir()
    (tmp_path / "bb" / "x").write_text("keep")
    assert main(["export-synetune", "--table", str(TINY), "--out", str(tmp_path / "bb")]) == 2
    assert "not an empty directory" in capsys.readouterr().err and (tmp_path / "bb" / "x").read_text() == "keep"


def test_learning_curves_become_the_epoch_fidelity_axis(tmp_path):
    """A table whose runs carry learning curves exports epochs 1..E; every value equals the run's curve entry (or its
    final metric at the last epoch), checked against a pandas explode of the runs, through Syne Tune's reader."""
    table = load_table(TINY)
    runs = table.runs.copy()
    epochs = 3
    rng = np.random.default_rng(0)
    lengths = np.full(len(runs), epochs)
    lengths[0] = 1  # a run that diverged during its second epoch keeps one epoch of curve
    # the last epoch's accuracy is the run's final one where it has one (a curve holds only finite accuracies)
    runs["curve_val_accuracy"] = [list(rng.uniform(0, 1, n - 1)) + [v if np.isfinite(v) else rng.uniform(0, 1)]
                                  for n, v in zip(lengths, runs["val_accuracy"])]
    runs["curve_val_loss"] = [list(rng.uniform(0, 3, n)) for n in lengths]
    runs["curve_train_loss"] = [list(rng.uniform(0, 3, n)) for n in lengths]
    runs["curve_seconds"] = [list(np.cumsum(rng.uniform(0.1, 1, n))) for n in lengths]
    curved = BenchmarkTable(table.functions, runs, {**table.metadata, "name": "curved", "recipe": {"epochs": epochs}})
    bb = deserialize(export_synetune(curved, tmp_path / "bb"))["curved"]
    names = list(curved.functions["function"])
    seeds = sorted(runs["seed"].unique())
    assert list(bb.fidelity_values) == [1, 2, 3]
    ev = bb.objectives_evaluations
    assert ev.shape == (len(names), len(seeds), epochs, len(SYNETUNE_OBJECTIVES))
    long = runs.assign(epoch=[list(range(1, n + 1)) for n in lengths]).explode(
        ["epoch", "curve_val_accuracy", "curve_val_loss", "curve_train_loss", "curve_seconds"])
    for metric, curve in (("val_accuracy", "curve_val_accuracy"), ("val_loss", "curve_val_loss"),
                          ("train_loss", "curve_train_loss"), ("runtime", "curve_seconds")):
        k = SYNETUNE_OBJECTIVES.index(metric)
        for e in range(1, epochs + 1):
            ref = long[long["epoch"] == e].pivot(index="function", columns="seed", values=curve)
            ref = ref.reindex(index=names, columns=seeds).to_numpy(dtype=np.float32)
            np.testing.assert_array_equal(ev[:, :, e - 1, k], ref)
    k = SYNETUNE_OBJECTIVES.index("test_accuracy")  # measured after the last epoch only
    full = runs[lengths == epochs].pivot(index="function", columns="seed", values="test_accuracy")
    np.testing.assert_array_equal(ev[:, :, -1, k], full.reindex(index=names, columns=seeds).to_numpy(np.float32))
    assert np.isnan(ev[:, :, :-1, k]).all()
    first = runs.iloc[0]
    i, j = names.index(first["function"]), seeds.index(first["seed"])
    assert np.isnan(ev[i, j, 1:, :]).all()  # nothing after the diverged run's last recorded epoch
