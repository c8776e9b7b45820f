"""The shipped tables (``data/act-bench-mnist1d``, ``-resnet``, ``-vit``: every folder of ``data/`` with a
``metadata.json``): complete, consistent with their own build journals, and every median recomputed independently
from the journal's runs."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from act_bench.cli import main
from act_bench.space import BASELINE_FUNCTIONS, PAPER_THREE_NODE_SCHEMA, equivalence_classes, evaluate_many
from act_bench.tables import load_table
from data_builders.recipes import get_recipe

DATA = Path(__file__).resolve().parents[1] / "data"
METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss", "test_loss")


SHIPPED = sorted(p.name for p in DATA.iterdir() if (p / "metadata.json").is_file())


def test_the_suites_cnn_table_is_shipped():
    assert "act-bench-mnist1d" in SHIPPED


@pytest.fixture(scope="module", params=SHIPPED)
def name(request):
    return request.param


@pytest.fixture(scope="module")
def table(name):
    return load_table(DATA / name)


@pytest.fixture(scope="module")
def journal(name):
    """(records, final runs by function, features by function, replaced records): a run's final record is its first
    one unless a later record of it says it ``replaces`` it (read here independently of the package's reader)."""
    records = [json.loads(line) for line in (DATA / f"{name}.journal" / "records.jsonl").open()]
    final, features, replaced = {}, defaultdict(list), []
    for r in records:
        if r["type"] == "run":
            key = (r["function"], r["seed"])
            if key not in final:
                assert not r.get("replaces"), key  # nothing to replace
                final[key] = r
            else:
                assert r.get("replaces") and not final[key].get("replaces"), key  # replaced at most once
                replaced.append((final[key], r))
                final[key] = r
        elif r["type"] == "features":
            features[r["function"]].append(r)
    runs = defaultdict(list)
    for (f, _), r in sorted(final.items()):
        runs[f].append(r)
    return records, runs, features, replaced


def test_table_info_passes(name, capsys, journal):
    _, runs, _, _ = journal
    assert main(["table", "info", "--table", name, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    seeds = {r["seed"] for rs in runs.values() for r in rs}
    assert (info["rows"], info["runs"], info["seeds"]) == (2902, sum(map(len, runs.values())), len(seeds))


def test_covers_every_unique_three_node_function_and_the_baselines(name, table):
    classes = equivalence_classes(BASELINE_FUNCTIONS, schemas=PAPER_THREE_NODE_SCHEMA)
    assert len(table) == len(classes) == 2902
    rows = {table.index_of(f) for f in classes.representatives}
    assert None not in rows and len(rows) == len(table)  # one row per class, no class missing
    assert all(table.index_of(f) is not None for f in BASELINE_FUNCTIONS)
    meta = table.metadata
    assert meta["build"]["complete"] is True and meta["build"]["functions_complete"] == 2902
    assert meta["recipe"] == get_recipe(name).to_dict()


def test_every_median_and_estimate_equals_its_journal_runs(name, table, journal):
    """The paper's columns: medians of seeds 0-2 (the paper's status rule); the all-run estimates: every run."""
    records, runs, features, _ = journal
    seeds = get_recipe(name).seeds
    assert records[0]["type"] == "header" and records[0]["recipe"] == get_recipe(name).to_dict()
    df = table.functions
    assert set(runs) == set(df["function"]) == set(features)
    for f, rs in runs.items():  # seeds 0-2, or 0-9 for a contender: none missing, none duplicated
        assert sorted(r["seed"] for r in rs) in (list(range(seeds)), list(range(10))), f
        assert all(r["status"] in ("ok", "diverged") for r in rs), f
        assert len(features[f]) == 1, f
    for _, row in df.iterrows():
        rs = runs[row["function"]]
        paper = [r for r in rs if r["seed"] < seeds]
        for m in METRICS:
            values = np.array([r[m] if r[m] is not None else np.nan for r in paper], dtype=float)
            expected = np.nanmedian(values) if np.isfinite(values).any() else np.nan
            assert row[m] == pytest.approx(expected, rel=0, abs=1e-12, nan_ok=True), (row["function"], m)
        assert row["runtime"] == pytest.approx(np.median([r["runtime"] for r in paper]), abs=1e-12)
        diverged = sum(r["status"] == "diverged" for r in paper)
        assert row["status"] == ("diverged" if diverged >= len(paper) - diverged else "ok")
        assert bool(row["fim_valid"]) == bool(features[row["function"]][0]["fim_valid"])
        acc = np.array([r["val_accuracy"] for r in rs], dtype=float)
        assert row["n_runs"] == len(rs) and row["n_ok"] == sum(r["status"] == "ok" for r in rs)
        assert row["val_accuracy_mean"] == pytest.approx(acc.mean(), abs=1e-12)
        assert row["val_accuracy_se"] == pytest.approx(acc.std(ddof=1) / np.sqrt(acc.size), abs=1e-12)
    # the runs config holds the same runs as the journal
    by_key = {(r["function"], r["seed"]): r for rs in runs.values() for r in rs}
    assert len(table.runs) == len(by_key)
    for rec in table.runs.itertuples():
        j = by_key[(rec.function, rec.seed)]
        assert rec.test_accuracy == pytest.approx(j["test_accuracy"], nan_ok=True)
        assert rec.status == j["status"] and bool(rec.eval_loss_nonfinite) == bool(j.get("eval_loss_nonfinite"))


def test_a_run_is_diverged_only_when_training_met_a_non_finite_value(journal):
    """Runs that completed training are ok (the old rule's records were retrained and replaced), and a replaced
    record trained exactly as its replacement: the same training-loss and validation-loss curves, the same
    validation accuracies except at epochs whose validation loss was not finite (a NaN largest logit counted as
    correct before)."""
    _, runs, _, replaced = journal
    for rs in runs.values():
        for r in rs:
            assert r["error"] != "non-finite evaluation loss after training"
            if r["status"] == "diverged":
                # a non-finite training loss, or AutoInit found the activation's moments not finite (the first
                # forward pass would be): training could not go on either way
                assert r["error"].startswith(("non-finite training loss", "AutoInit: ")), r["error"]
    for old, new in replaced:
        assert new["replaces"]["status"] == old["status"] and new["replaces"]["error"] == old["error"]
        assert len(old["curve_train_loss"]) == len(new["curve_train_loss"])
        np.testing.assert_array_equal(np.array(old["curve_train_loss"], float), np.array(new["curve_train_loss"], float))
        np.testing.assert_array_equal(np.array(old["curve_val_loss"], float), np.array(new["curve_val_loss"], float))
        finite = np.isfinite(np.array(old["curve_val_loss"], float))
        np.testing.assert_array_equal(np.array(old["curve_val_accuracy"], float)[finite],
                                      np.array(new["curve_val_accuracy"], float)[finite])


def test_outputs_column_is_the_functions_outputs(table):
    df = table.functions
    np.testing.assert_array_equal(np.stack(df["outputs"].to_numpy()), evaluate_many(list(df["function"])))


def test_every_shipped_table_has_one_code_digest_equal_to_the_current_codes_or_a_reviewed_entry():
    # data/REBUILD_PENDING.yaml lists the tables allowed to lag the code, data/CODE_EQUIVALENT.yaml those whose code
    # changed without changing results (tests/test_retrain_shipped.py is the evidence)
    from data_builders._provenance import check_shipped_tables

    assert check_shipped_tables(DATA) == []

