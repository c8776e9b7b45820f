"""``act-bench export-synetune``: the folder loads with Syne Tune's own blackbox-repository reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from syne_tune.blackbox_repository.blackbox_tabular import deserialize
from syne_tune.config_space import Categorical

from act_bench.cli import main
from act_bench.tables import SYNETUNE_FILES, SYNETUNE_OBJECTIVES, BenchmarkTable, export_synetune, load_table

TINY = Path(__file__).resolve().parent / "data" / "tiny-table"


def test_blackbox_holds_every_run_on_a_seed_axis(tmp_path, capsys):
    table = load_table(TINY)
    out = tmp_path / "bb"
    assert main(["export-synetune", str(TINY), "--out", str(out), "--json"]) == 0
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
    assert main(["export-synetune", str(TINY), "--out", str(tmp_path / "bb")]) == 2
    assert "not an empty directory" in capsys.readouterr().err and (tmp_path / "bb" / "x").read_text() == "keep"
