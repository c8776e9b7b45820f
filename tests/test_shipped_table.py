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
    records = [json.loads(line) for line in (DATA / f"{name}.journal" / "records.jsonl").open()]
    runs, features = defaultdict(list), defaultdict(list)
    for r in records:
        if r["type"] == "run":
            runs[r["function"]].append(r)
        elif r["type"] == "features":
            features[r["function"]].append(r)
    return records, runs, features


def test_table_info_passes(name, capsys):
    assert main(["table", "info", name, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    seeds = get_recipe(name).seeds
    assert (info["rows"], info["runs"], info["seeds"]) == (2902, 2902 * seeds, seeds)


def test_covers_every_unique_three_node_function_and_the_baselines(name, table):
    classes = equivalence_classes(BASELINE_FUNCTIONS, schemas=PAPER_THREE_NODE_SCHEMA)
    assert len(table) == len(classes) == 2902
    rows = {table.index_of(f) for f in classes.representatives}
    assert None not in rows and len(rows) == len(table)  # one row per class, no class missing
    assert all(table.index_of(f) is not None for f in BASELINE_FUNCTIONS)
    meta = table.metadata
    assert meta["build"]["complete"] is True and meta["build"]["functions_complete"] == 2902
    assert meta["recipe"] == get_recipe(name).to_dict()


def test_every_median_equals_the_median_of_its_journal_runs(name, table, journal):
    records, runs, features = journal
    seeds = get_recipe(name).seeds
    assert records[0]["type"] == "header" and records[0]["recipe"] == get_recipe(name).to_dict()
    df = table.functions
    assert set(runs) == set(df["function"]) == set(features)
    for f, rs in runs.items():  # exactly seeds 0, 1, 2: none missing, none duplicated
        assert sorted(r["seed"] for r in rs) == list(range(seeds)), f
        assert all(r["status"] in ("ok", "diverged") for r in rs), f
        assert len(features[f]) == 1, f
    for _, row in df.iterrows():
        rs = runs[row["function"]]
        for m in METRICS:
            values = np.array([r[m] for r in rs], dtype=float)
            expected = np.nanmedian(values) if np.isfinite(values).any() else np.nan
            assert row[m] == pytest.approx(expected, rel=0, abs=1e-12, nan_ok=True), (row["function"], m)
        assert row["runtime"] == pytest.approx(np.median([r["runtime"] for r in rs]), abs=1e-12)
        diverged = sum(r["status"] == "diverged" for r in rs)
        assert row["status"] == ("diverged" if diverged >= len(rs) - diverged else "ok")
        assert bool(row["fim_valid"]) == bool(features[row["function"]][0]["fim_valid"])
    # the runs config holds the same runs as the journal
    by_key = {(r["function"], r["seed"]): r for rs in runs.values() for r in rs}
    assert len(table.runs) == len(by_key) == 2902 * seeds
    for rec in table.runs.itertuples():
        assert rec.test_accuracy == pytest.approx(by_key[(rec.function, rec.seed)]["test_accuracy"], nan_ok=True)


def test_outputs_column_is_the_functions_outputs(table):
    df = table.functions
    np.testing.assert_array_equal(np.stack(df["outputs"].to_numpy()), evaluate_many(list(df["function"])))


def test_every_shipped_table_has_one_code_digest_equal_to_the_current_codes_or_a_reviewed_entry():
    # data/REBUILD_PENDING.yaml lists the tables allowed to lag the code, data/CODE_EQUIVALENT.yaml those whose code
    # changed without changing results (tests/test_retrain_shipped.py is the evidence)
    from data_builders._provenance import check_shipped_tables

    assert check_shipped_tables(DATA) == []

