"""The shipped table ``data/act-bench-mnist1d``: complete, consistent with its own build journal, and every median
recomputed independently from the journal's runs."""

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


@pytest.fixture(scope="module")
def table():
    return load_table(DATA / "act-bench-mnist1d")


@pytest.fixture(scope="module")
def journal():
    records = [json.loads(line) for line in (DATA / "act-bench-mnist1d.journal" / "records.jsonl").open()]
    runs, features = defaultdict(list), defaultdict(list)
    for r in records:
        if r["type"] == "run":
            runs[r["function"]].append(r)
        elif r["type"] == "features":
            features[r["function"]].append(r)
    return records, runs, features


def test_table_info_passes(capsys):
    assert main(["table", "info", "act-bench-mnist1d", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["rows"], info["runs"], info["seeds"]) == (2902, 8706, 3)


def test_covers_every_unique_three_node_function_and_the_baselines(table):
    classes = equivalence_classes(BASELINE_FUNCTIONS, schemas=PAPER_THREE_NODE_SCHEMA)
    assert len(table) == len(classes) == 2902
    rows = {table.index_of(f) for f in classes.representatives}
    assert None not in rows and len(rows) == len(table)  # one row per class, no class missing
    assert all(table.index_of(f) is not None for f in BASELINE_FUNCTIONS)
    meta = table.metadata
    assert meta["build"]["complete"] is True and meta["build"]["functions_complete"] == 2902
    assert meta["recipe"] == get_recipe("act-bench-mnist1d").to_dict()


def test_every_median_equals_the_median_of_its_journal_runs(table, journal):
    records, runs, features = journal
    assert records[0]["type"] == "header" and records[0]["recipe"] == get_recipe("act-bench-mnist1d").to_dict()
    df = table.functions
    assert set(runs) == set(df["function"]) == set(features)
    for f, rs in runs.items():  # exactly seeds 0, 1, 2: none missing, none duplicated
        assert sorted(r["seed"] for r in rs) == [0, 1, 2], f
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
        assert row["status"] == ("diverged" if diverged >= 3 - diverged else "ok")
        assert bool(row["fim_valid"]) == bool(features[row["function"]][0]["fim_valid"])
    # the runs config holds the same runs as the journal
    by_key = {(r["function"], r["seed"]): r for rs in runs.values() for r in rs}
    assert len(table.runs) == len(by_key) == 8706
    for rec in table.runs.itertuples():
        assert rec.test_accuracy == pytest.approx(by_key[(rec.function, rec.seed)]["test_accuracy"], nan_ok=True)


def test_outputs_column_is_the_functions_outputs(table):
    df = table.functions
    np.testing.assert_array_equal(np.stack(df["outputs"].to_numpy()), evaluate_many(list(df["function"])))


def test_every_shipped_table_has_one_code_digest_equal_to_the_current_codes_or_a_reviewed_entry():
    # data/REBUILD_PENDING.yaml lists the tables allowed to lag the code (e.g. act-bench-mnist1d until issue 14)
    from data_builders._provenance import check_shipped_tables

    assert check_shipped_tables(DATA) == []
    meta = json.loads((DATA / "act-bench-mnist1d" / "metadata.json").read_text())
    assert meta["code"]["commit"].startswith("881f6f3")  # the code that built it, recorded afterwards

