"""Benchmark tables: medians from runs, Parquet/HF round trips, queries, loading, CLI, publish --dry-run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from act_bench.cli import main
from act_bench.errors import InvalidInputError, SchemaMismatchError
from act_bench.space import function_outputs
from act_bench.tables import (
    CURVE_COLUMNS,
    FUNCTIONS_COLUMNS,
    METRICS,
    RUNS_COLUMNS,
    BenchmarkTable,
    FunctionNotInTableError,
    load_table,
)

TINY = Path(__file__).resolve().parent / "data" / "tiny-table"
REPO = Path(__file__).resolve().parents[1]
LAYOUT = [{"layer": "a", "weights": 320}, {"layer": "b", "weights": 99}, {"layer": "c", "weights": 210}]  # 3+0+2


def _runs(seed: int = 0) -> pd.DataFrame:
    """Made-up runs: 4 functions, 3 seeds, with a failed run, diverged runs and NaN losses; learning curves of 3
    epochs (ok runs), cut short (diverged runs) or absent (failed runs)."""
    rng = np.random.default_rng(seed)
    curve_rng = np.random.default_rng(seed + 1)
    rows = []
    spec = {"relu(x)": ["ok", "ok", "ok"], "tanh(x)": ["ok", "failed", "ok"],
            "exp(exp(x))": ["diverged", "ok", "diverged"], "reciprocal(x)": ["failed", "failed", "failed"],
            "swish(x)": ["ok", "diverged", "ok"]}
    for f, statuses in spec.items():
        for s, status in enumerate(statuses):
            m = rng.uniform(0.2, 0.9, size=6)
            if status == "failed":
                m[:] = np.nan
            if status == "diverged":
                m[:3] = 0.1
                m[3:] = np.nan if s == 0 else 2.3
            epochs = {"ok": 3, "diverged": s % 2, "failed": 0}[status]
            # valid curves (the table validates them): accuracies in [0, 1], losses finite, seconds increasing
            draw = {"curve_val_accuracy": lambda n: curve_rng.uniform(0, 1, size=n),
                    "curve_seconds": lambda n: np.cumsum(curve_rng.uniform(0.1, 1, size=n))}
            curves = {c: draw.get(c, lambda n: curve_rng.uniform(0, 3, size=n))(epochs).tolist() if epochs else None
                      for c in CURVE_COLUMNS}
            rows.append({"function": f, "seed": 10 + s, **dict(zip(METRICS, m)), "runtime": rng.uniform(1, 5),
                         "status": status, "error": "boom" if status == "failed" else None, **curves})
    return pd.DataFrame(rows)


def _table() -> BenchmarkTable:
    cdf = {"relu(x)": np.linspace(0.1, 1, 5), "tanh(x)": np.linspace(0.0, 1, 5),
           "exp(exp(x))": [0.5, np.nan, 1, 1, 1], "swish(x)": np.linspace(0.2, 1, 5)}
    features = {f: {"fim_cdf": v} for f, v in cdf.items()}
    features["relu(x)"]["equivalents"] = ["max(x,zero(x))"]
    features["swish(x)"]["fim_valid"] = False
    features["swish(x)"]["fim_reason"] = "made up"
    return BenchmarkTable.from_runs(_runs(), features=features,
                                    metadata={"name": "t", "fim_layout": LAYOUT, "task": "made-up"})


def test_from_runs_medians_and_status_match_independent_pandas_computation():
    runs = _runs()
    table = _table()
    f = table.functions.set_index("function")
    alive = runs[runs["status"] != "failed"]
    # pandas groupby median skips NaN: the independent reference for "median over non-failed runs"
    expected = alive.groupby("function")[list(METRICS)].median()
    for name in alive["function"].unique():
        for m in METRICS:
            a, b = f.loc[name, m], expected.loc[name, m]
            assert (math.isnan(a) and math.isnan(b)) or a == b, (name, m)
    rt = runs.groupby("function")["runtime"].median()
    for name in runs["function"].unique():
        assert f.loc[name, "runtime"] == rt[name]
        assert f.loc[name, "n_runs"] == (runs["function"] == name).sum()
    assert f.loc["reciprocal(x)", "status"] == "failed" and math.isnan(f.loc["reciprocal(x)", "val_accuracy"])
    assert f.loc["exp(exp(x))", "status"] == "diverged" and f.loc["exp(exp(x))", "val_accuracy"] == 0.1
    assert f.loc["swish(x)", "status"] == "ok" and f.loc["relu(x)", "status"] == "ok"
    assert f.loc["tanh(x)", "status"] == "ok"
    # features: valid only when finite; invalid rows keep their vector (NaN included) and get a reason
    assert f.loc["relu(x)", "fim_valid"] and f.loc["relu(x)", "fim_reason"] is None
    assert not f.loc["exp(exp(x))", "fim_valid"] and "non-finite" in f.loc["exp(exp(x))", "fim_reason"]
    assert not f.loc["reciprocal(x)", "fim_valid"] and f.loc["reciprocal(x)", "fim_cdf"].size == 0
    assert f.loc["swish(x)", "fim_reason"] == "made up"
    assert table.fim_matrix().shape == (5, 5) and np.isnan(table.fim_matrix()[list(f.index).index("reciprocal(x)")]).all()
    # outputs are the real function outputs, and the layout gets its bins
    for i, name in enumerate(table.functions["function"]):
        np.testing.assert_array_equal(table.outputs_matrix()[i], function_outputs(name))
    assert [e["bins"] for e in table.metadata["fim_layout"]] == [3, 0, 2]
    assert f.loc["relu(x)", "equivalents"] == ["relu(x)", "max(x,zero(x))"]


def _assert_same_value(a, b, where):
    if isinstance(a, (list, tuple, np.ndarray)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, where
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a.astype(np.float32), b.astype(np.float32), err_msg=where)
        else:
            assert a.tolist() == b.tolist(), where
    elif isinstance(a, float) and math.isnan(a):
        assert b is None or (isinstance(b, float) and math.isnan(b)), where
    else:
        assert a == b, where


def test_export_hf_then_load_dataset_gives_back_every_value(tmp_path, capsys):
    import datasets

    table = _table()
    src = table.save(tmp_path / "src")
    out = tmp_path / "hf"
    assert main(["export-hf", "--table", str(src), "--out", str(out), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert sorted(f["path"] for f in listing["files"]) == ["README.md", "functions.parquet", "metadata.json",
                                                           "runs.parquet"]
    card = (out / "README.md").read_text()
    assert "Bingham" in card and "Miikkulainen" in card and "NeurIPS" in card and "## Datasheet" in card
    assert "config_name: functions" in card and "license:" in card
    for config, df in (("functions", table.functions), ("runs", table.runs)):
        ds = datasets.load_dataset(str(out), config, split="train", cache_dir=str(tmp_path / "cache"))
        assert ds.column_names == list(FUNCTIONS_COLUMNS if config == "functions" else RUNS_COLUMNS)
        assert len(ds) == len(df)
        for i, rec in enumerate(ds):
            for col in ds.column_names:
                _assert_same_value(df[col].iloc[i], rec[col], f"{config}[{i}].{col}")
    # learning curves: float64 lists, exactly the made-up values (empty where a run has none)
    made_up = _runs()
    ds = datasets.load_dataset(str(out), "runs", split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.features["curve_val_accuracy"].feature.dtype == "float64"
    for i, rec in enumerate(ds):
        for col in CURVE_COLUMNS:
            expected = made_up[col].iloc[i]
            assert rec[col] == (expected if expected is not None else []), (i, col)
    assert sum(len(v) for v in ds["curve_train_loss"]) == 3 * 8 + 1  # 8 ok runs, 1 diverged run with 1 epoch
    # the folder is also a table folder that load_table reads back identically
    back = load_table(out)
    assert back.metadata == json.loads(json.dumps(table.metadata))
    np.testing.assert_array_equal(back.fim_matrix(), table.fim_matrix())
    np.testing.assert_array_equal(back.outputs_matrix(), table.outputs_matrix())


def test_to_datasets_matches_to_pandas():
    table = _table()
    dd = table.to_datasets()
    assert set(dd) == {"functions", "runs"}
    for config in ("functions", "runs"):
        df = table.to_pandas(config)
        for i, rec in enumerate(dd[config]):
            for col in df.columns:
                _assert_same_value(df[col].iloc[i], rec[col], f"{config}[{i}].{col}")


def test_query_any_spelling_and_missing(tmp_path):
    table = _table()
    assert table.query("max(x, zero(x))")["function"] == "relu(x)"  # listed equivalent, other spacing
    assert table.query("max(zero(x),x)")["function"] == "relu(x)"    # unlisted: found by outputs
    assert table.query("tanh(x)")["val_accuracy"] == table.functions["val_accuracy"].iloc[1]
    with pytest.raises(FunctionNotInTableError, match="'sigmoid\\(x\\)' is not in table 't'"):
        table.query("sigmoid(x)")
    with pytest.raises(KeyError):
        table.query("sigmoid(x)")
    with pytest.raises(InvalidInputError, match="unknown"):
        table.query("frobnicate(x)")


def test_tiny_fixture_is_current_and_loads_by_name(tmp_path, monkeypatch):
    sys.path.insert(0, str(TINY.parent))
    try:
        import make_tiny_table
    finally:
        sys.path.remove(str(TINY.parent))
    fresh = make_tiny_table.build()
    shipped = load_table(TINY)
    assert shipped.metadata == json.loads(json.dumps(fresh.metadata))
    pd.testing.assert_frame_equal(shipped.runs, fresh.runs, check_dtype=False)
    for col in FUNCTIONS_COLUMNS:
        for i in range(len(fresh)):
            _assert_same_value(fresh.functions[col].iloc[i], shipped.functions[col].iloc[i], col)
    assert shipped.info() == {"name": "tiny-table", "rows": 6, "runs": 18, "seeds": 3,
                              "best": {"function": "relu(x)", "val_accuracy": 0.87, "ties": 1, "tied": ["relu(x)"]},
                              "fim_dims": 6,
                              "source": shipped.metadata["source"], "runs_with_curves": 0, "code": None}
    # written before learning curves existed: its runs.parquet has no curve columns, which read as empty lists
    import pyarrow.parquet as pq

    assert not set(CURVE_COLUMNS) & set(pq.read_schema(TINY / "runs.parquet").names)
    assert all(len(v) == 0 for c in CURVE_COLUMNS for v in shipped.runs[c])
    monkeypatch.setenv("ACT_BENCH_DATA_DIR", str(TINY.parent))
    assert len(load_table("tiny-table")) == 6
    with pytest.raises(InvalidInputError, match="no table named 'nope'.*tiny-table"):
        load_table("nope")


def test_save_is_atomic_and_refuses_to_overwrite(tmp_path):
    table = _table()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="not empty"):
        table.save(tmp_path / "full")
    assert [p.name for p in tmp_path.iterdir()] == ["full"]  # no temporary folder left behind
    table.save(tmp_path / "full", overwrite=True)
    assert not (tmp_path / "full" / "keep.txt").exists() and len(load_table(tmp_path / "full")) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_parquet_with_different_schema_is_rejected_naming_the_column(tmp_path, capsys):
    src = _table().save(tmp_path / "src")
    t = pq.read_table(src / "functions.parquet")
    t = t.set_column(t.column_names.index("val_accuracy"), "val_accuracy",
                     pa.array([str(v) for v in t.column("val_accuracy").to_pylist()]))
    pq.write_table(t, src / "functions.parquet")
    with pytest.raises(SchemaMismatchError, match="column 'val_accuracy' has type string; expected double"):
        load_table(src)
    out = tmp_path / "out"
    assert main(["export-hf", "--table", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "val_accuracy" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    src = _table().save(tmp_path / "src2")
    t = pq.read_table(src / "functions.parquet").drop_columns(["status"])
    pq.write_table(t, src / "functions.parquet")
    assert main(["table", "info", "--table", str(src)]) == 2
    assert "column 'status' is missing" in capsys.readouterr().err
    # right schema, wrong values
    src = _table().save(tmp_path / "src3")
    t = pq.read_table(src / "runs.parquet")
    t = t.set_column(t.column_names.index("status"), "status", pa.array(["great"] * t.num_rows))
    pq.write_table(t, src / "runs.parquet")
    with pytest.raises(SchemaMismatchError, match="runs.parquet: column 'status' has value\\(s\\) 'great'"):
        load_table(src)


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.assign(status=list(r["status"][:-1]) + ["great"]), "column 'status' must be one of"),
    (lambda r: r.assign(seed=[0] * len(r)), "appears twice"),
    (lambda r: r.assign(val_accuracy=np.where(r["status"] == "ok", np.nan, r["val_accuracy"])),
     "status is 'ok' but val_accuracy is NaN"),
    (lambda r: r.assign(function=["tanh( x )"] + list(r["function"][1:])), "'tanh(x)' with seed 10 appears twice"),
    (lambda r: r.assign(function=["relu(y)"] + list(r["function"][1:])), "runs row 0 column 'function'"),
    (lambda r: r.drop(columns=["runtime"]), "missing column(s) 'runtime'"),
    (lambda r: r.assign(curve_val_loss=["0.5"] + list(r["curve_val_loss"][1:])),
     "runs row 0 column 'curve_val_loss' must be a list of numbers"),
    (lambda r: r.assign(curve_train_loss=[[0.1, "x"]] + list(r["curve_train_loss"][1:])),
     "runs row 0 column 'curve_train_loss' must be a number"),
])
def test_from_runs_rejects_bad_runs(mutate, message):
    with pytest.raises(InvalidInputError, match=message.replace("(", "\\(").replace(")", "\\)")):
        BenchmarkTable.from_runs(mutate(_runs()))


def test_from_runs_rejects_inconsistent_features():
    with pytest.raises(InvalidInputError, match="no runs"):
        BenchmarkTable.from_runs(_runs(), features={"sigmoid(x)": {"fim_cdf": [1.0]}})
    with pytest.raises(InvalidInputError, match="same length"):
        BenchmarkTable.from_runs(_runs(), features={"relu(x)": {"fim_cdf": [1.0]}, "tanh(x)": {"fim_cdf": [0.5, 1]}})
    with pytest.raises(InvalidInputError, match="has 3 bins in all but the fim_cdf vectors have 2"):
        BenchmarkTable.from_runs(_runs(), features={"relu(x)": {"fim_cdf": [0.5, 1.0]}},
                                 metadata={"fim_layout": [{"layer": "a", "weights": 399}]})
    with pytest.raises(InvalidInputError, match="identical outputs"):
        BenchmarkTable.from_runs(_runs().assign(function=lambda r: r["function"].replace("tanh(x)", "max(x,zero(x))")))


def test_cli_info_and_query_json(capsys):
    assert main(["table", "info", "--table", str(TINY), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == {"name", "rows", "runs", "seeds", "best", "fim_dims", "source", "runs_with_curves",
                         "code"} and info["rows"] == 6
    assert main(["table", "query", "--table", str(TINY), "max(x,zero(x))", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    runs = load_table(TINY).runs
    assert row["function"] == "relu(x)"
    assert row["val_accuracy"] == float(np.median(runs.loc[runs["function"] == "relu(x)", "val_accuracy"]))
    assert main(["table", "query", "--table", str(TINY), "cosh(x)"]) == 2
    err = capsys.readouterr().err
    assert "'cosh(x)' is not in table 'tiny-table'" in err and err.count("\n") == 1


_CHILD = r"""
import contextlib, io, json, sys
from act_bench.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    results.append({"rc": rc, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""


def test_hub_ids_resolve_to_the_hub_and_fail_cleanly_offline(tmp_path):
    # one child process with HF_HUB_OFFLINE (read by huggingface_hub at import): the Hub code paths run, but never
    # touch the network
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    argvs = [["table", "info", "--table", "someone/no-such-table"],
             ["publish", "--table", str(TINY), "--repo-id", "someone/tiny", "--dry-run", "--json"],
             ["publish", "--table", str(TINY), "--repo-id", "someone/tiny"]]
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argvs)], env=env, capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    hub, dry, upload = json.loads(proc.stdout)
    assert hub["rc"] == 1 and "Traceback" not in hub["err"] and hub["err"].count("\n") == 1
    assert "cannot download Hub dataset 'someone/no-such-table'" in hub["err"]
    assert dry["rc"] == 0, dry["err"]
    res = json.loads(dry["out"])
    sizes = {f["path"]: f["bytes"] for f in res["files"]}
    assert set(sizes) == {"README.md", "functions.parquet", "runs.parquet", "metadata.json"}
    assert res["dry_run"] is True and res["total_bytes"] == sum(sizes.values()) and all(sizes.values())
    # the real upload path, offline: huggingface_hub refuses before any request; one clean line, exit 1
    assert upload["rc"] == 1 and upload["out"] == ""
    assert upload["err"] == "act-bench publish: error: cannot upload to 'someone/tiny': HF_HUB_OFFLINE is set\n"


def test_card_accuracy_summary_matches_an_independent_computation():
    from act_bench.tables._card import dataset_card

    table = _table()
    card = dataset_card(table)
    df = table.functions
    counts = df["status"].value_counts()
    assert "Status of the median run: " + ", ".join(f"{k} {int(v)} ({v / len(df):.0%})" for k, v in counts.items())\
        in card
    acc = df["test_accuracy"].dropna().to_numpy()
    expected = ", ".join(f"{p}% {np.percentile(acc, p):.3f}" for p in (10, 25, 50, 75, 90, 99))
    assert f"Median test accuracy, all {acc.size} functions: quantiles {expected}; max {acc.max():.3f}." in card
    relu = df.loc[df["function"] == "relu(x)", "test_accuracy"].iloc[0]
    swish = df.loc[df["function"] == "swish(x)", "test_accuracy"].iloc[0]
    assert f"relu(x) {relu:.3f}" in card and f"swish(x) {swish:.3f}" in card
    line = card.split("Baseline functions (median test accuracy): ")[1].split("\n")[0]
    assert [item.rsplit(" ", 1)[0] for item in line.rstrip(".").split(", ")] == ["relu(x)", "swish(x)", "tanh(x)"]


def test_card_figures_travel_with_export_hf_and_publish(tmp_path, capsys):
    # a table whose card shows two figures, one of which is missing from its folder
    src = tmp_path / "src"
    load_table(TINY).save(src)
    meta = json.loads((src / "metadata.json").read_text())
    meta["figures"] = [{"file": "accuracy_histogram.png", "title": "Histogram"}, {"file": "gone.png", "title": "X"}]
    (src / "metadata.json").write_text(json.dumps(meta))
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    (src / "accuracy_histogram.png").write_bytes(png)
    out = tmp_path / "hf"
    assert main(["export-hf", "--table", str(src), "--out", str(out)]) == 0
    assert (out / "accuracy_histogram.png").read_bytes() == png and not (out / "gone.png").exists()
    card = (out / "README.md").read_text()
    assert "](accuracy_histogram.png)" in card and "gone.png" not in card
    assert [f["file"] for f in json.loads((out / "metadata.json").read_text())["figures"]] == ["accuracy_histogram.png"]
    capsys.readouterr()
    assert main(["publish", "--table", str(src), "--repo-id", "user/x", "--dry-run", "--json"]) == 0
    listed = {f["path"] for f in json.loads(capsys.readouterr().out)["files"]}
    assert "accuracy_histogram.png" in listed
