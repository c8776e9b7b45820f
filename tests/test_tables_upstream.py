"""Upstream Act-Bench JSON import: streaming reader, both CDF layouts, equivalence lists, bad input via the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from act_bench.cli import main
from act_bench.interop import import_upstream, iter_json_object, load_table
from act_bench.space import function_outputs, parse

# a small model layout: act-bench layout floor(w/100) -> 5+1+0+3 = 9 values; upstream floor(w/100)-1 -> 4+0+0+2 = 6
LAYERS = [{"layer": "conv1", "weights": 530}, {"layer": "conv2", "weights": 120}, {"layer": "fc", "weights": 99},
          {"layer": "out", "weights": 310}]
DIMS = {"act-bench": [5, 1, 0, 3], "upstream": [4, 0, 0, 2]}
KEYS = ["Train Accuracy", "Validation Accuracy", "Train Loss", "Validation Loss", "Test Accuracy", "Test Loss",
        "Equivalent Activation Functions", "Fisher log eigenvalue CDF", "Runtime (s)"]


def _cdf(rng, bins):
    # per layer: a non-decreasing CDF ending in 1, as the reference code writes it
    parts = [np.sort(rng.uniform(0, 1, b - 1)).tolist() + [1.0] if b else [] for b in bins]
    return [v for p in parts for v in p]


def _records(layout: str, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    bins = DIMS[layout]
    eqs = {"min(square(x),selu(x))": ["min(selu(x),square(x))"],        # upstream lists the others
           "relu(x)": ["relu(x)", "max(x,zero(x))"],                     # ... or includes the key itself
           "tanh(x)": [], "swish(x)": ["mul(x,sigmoid(x))"], "exp(x)": [], "add(x,sigmoid(x))": []}
    out = {}
    for name, eq in eqs.items():
        acc = rng.uniform(0.1, 0.9, 3).tolist()
        loss = rng.uniform(0.2, 2.0, 3).tolist()
        out[name] = {"Train Accuracy": acc[0], "Validation Accuracy": acc[1], "Train Loss": loss[0],
                     "Validation Loss": loss[1], "Test Accuracy": acc[2], "Test Loss": loss[2],
                     "Equivalent Activation Functions": eq, "Fisher log eigenvalue CDF": _cdf(rng, bins),
                     "Runtime (s)": float(rng.uniform(100, 900)), "W&B Run Configs": [{"lr": 0.1}]}
    out["swish(x)"]["Fisher log eigenvalue CDF"][2] = math.nan    # invalid spectrum: cdf / cdf[-1] gave NaN
    out["exp(x)"]["Train Loss"] = math.nan                         # diverged
    out["exp(x)"]["Validation Loss"] = math.nan
    out["exp(x)"]["Fisher log eigenvalue CDF"] = None
    return out


def _write(path: Path, records) -> Path:
    path.write_text(json.dumps(records, indent=1))  # allow_nan: NaN tokens, as Python's json wrote the originals
    return path


@pytest.fixture
def layout_file(tmp_path):
    p = tmp_path / "layout.json"
    p.write_text(json.dumps(LAYERS))
    return p


@pytest.mark.parametrize("layout", ["act-bench", "upstream"])
def test_import_maps_every_value_and_detects_the_layout(tmp_path, layout_file, layout, capsys):
    records = _records(layout)
    src = _write(tmp_path / "act-bench-cnn.json", records)
    out = tmp_path / "out"
    assert main(["import-upstream", str(src), "--out", str(out), "--layout", str(layout_file), "--n-runs", "3",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["fim_cdf_layout"] == layout and summary["rows"] == len(records)
    table = load_table(out)
    meta = table.metadata
    assert meta["fim_cdf_layout"] == layout and meta["source"] == "upstream import of act-bench-cnn.json"
    assert meta["name"] == "act-bench-cnn"
    assert [e["bins"] for e in meta["fim_layout"]] == DIMS[layout]
    assert [e["weights"] for e in meta["fim_layout"]] == [e["weights"] for e in LAYERS]
    assert len(table.runs) == 0 and table.fim_matrix().shape == (len(records), sum(DIMS[layout]))
    f = table.functions
    assert list(f["function"]) == list(records)
    cols = {"Train Accuracy": "train_accuracy", "Validation Accuracy": "val_accuracy", "Test Accuracy":
            "test_accuracy", "Train Loss": "train_loss", "Validation Loss": "val_loss", "Test Loss": "test_loss",
            "Runtime (s)": "runtime"}
    for i, (name, rec) in enumerate(records.items()):
        row = f.iloc[i]
        for k, c in cols.items():
            assert row[c] == rec[k] or (math.isnan(row[c]) and math.isnan(rec[k])), (name, c)
        expected_eq = list(dict.fromkeys([name] + [str(parse(e)) for e in rec["Equivalent Activation Functions"]]))
        assert list(row["equivalents"]) == expected_eq
        assert row["n_runs"] == 3
        np.testing.assert_array_equal(row["outputs"], function_outputs(name))
        cdf = rec["Fisher log eigenvalue CDF"]
        if cdf is None:
            assert not row["fim_valid"] and "no FIM features" in row["fim_reason"] and row["fim_cdf"].size == 0
        elif not np.isfinite(cdf).all():  # kept as written, NaN included
            assert not row["fim_valid"] and "non-finite" in row["fim_reason"]
            np.testing.assert_array_equal(row["fim_cdf"], np.asarray(cdf, dtype=np.float32))
        else:
            assert row["fim_valid"] and row["fim_reason"] is None
            np.testing.assert_array_equal(row["fim_cdf"], np.asarray(cdf, dtype=np.float32))
        assert row["status"] == ("diverged" if name == "exp(x)" else "ok")
    # the folder loads with `datasets` as-is; the empty runs config is not declared (datasets cannot load it)
    import datasets

    ds = datasets.load_dataset(str(out), "functions", split="train", cache_dir=str(tmp_path / "cache"))
    assert ds["function"] == list(records) and ds["val_accuracy"] == list(f["val_accuracy"])
    assert "config_name: runs" not in (out / "README.md").read_text()
    # query by a non-representative equivalent, listed or found through outputs
    assert table.query("min(selu(x),square(x))")["function"] == "min(square(x),selu(x))"
    assert table.query("mul(sigmoid(x),x)")["function"] == "swish(x)"
    assert table.query("max(zero(x), x)")["val_accuracy"] == records["relu(x)"]["Validation Accuracy"]


def test_explicit_layout_without_model_and_python_api(tmp_path):
    records = _records("upstream", seed=1)
    src = _write(tmp_path / "f.json", records)
    table = import_upstream(src, cdf_layout="upstream", name="x")
    assert table.metadata["fim_cdf_layout"] == "upstream" and table.metadata["fim_layout"] == []
    assert table.fim_matrix().shape[1] == 6 and table.name == "x"
    assert table.functions["n_runs"].tolist() == [0] * len(records)  # unknown without --model / n_runs


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 64, 1 << 20])
def test_streaming_reader_matches_json_load(tmp_path, chunk_size):
    data = {"a": {"x": [1, 2.5, -3e-7, 1e300, float("nan"), None, True]}, "é\"\\ü\u2603": "s\n\t",
            "big": list(range(300)), "nested": {"k": [{"z": -0.0}, [], {}]}, "12345": 678901234567890,
            "last": 1.25e-12}
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    got = {k: v for _, k, v in iter_json_object(path, chunk_size=chunk_size)}
    assert json.dumps(got) == json.dumps(json.loads(path.read_text(encoding="utf-8")))
    assert [i for i, _, _ in iter_json_object(path, chunk_size=chunk_size)] == list(range(len(data)))


def _bad_cases():
    def drop_key(r):
        del r["tanh(x)"]["Test Loss"]
        return r

    def short_vector(r):  # the first record: no layout detected yet, so both are offered
        first = r["min(square(x),selu(x))"]
        first["Fisher log eigenvalue CDF"] = first["Fisher log eigenvalue CDF"][:7]
        return r

    def mixed_layouts(r):
        r["tanh(x)"]["Fisher log eigenvalue CDF"] = _cdf(np.random.default_rng(0), DIMS["upstream"])
        return r

    def nan_acc(r):
        r["tanh(x)"]["Validation Accuracy"] = math.nan
        return r

    def unknown_op(r):
        r["frob(x)"] = r.pop("tanh(x)")
        return r

    def unknown_op_eq(r):
        r["tanh(x)"]["Equivalent Activation Functions"] = ["tanh(y)"]
        return r

    def twice(r):
        r["tanh(x)"]["Equivalent Activation Functions"] = ["relu(x)"]
        return r

    def string_metric(r):
        r["tanh(x)"]["Runtime (s)"] = "fast"
        return r

    record = "record 2 ('tanh(x)')"
    return [
        ("truncated", lambda t: t[: len(t) // 2], ["malformed JSON", "line"]),
        ("missing comma", lambda t: t.replace('},\n "tanh(x)"', '}\n "tanh(x)"'),
         ["malformed JSON", "expected ',' or '}' after a record"]),
        ("not an object", lambda t: "[" + t + "]", ["expected '{'"]),
        ("empty object", lambda t: " {\n} ", ["holds no records"]),
        ("trailing data", lambda t: t + " {}", ["extra data after the top-level object"]),
        ("duplicate key", lambda t: t.replace('"relu(x)"', '"tanh(x)"'), ["repeats the key 'tanh(x)'"]),
        ("missing key", drop_key, [record, "missing key(s) 'Test Loss'"]),
        ("wrong length", short_vector, ["record 0 ('min(square(x),selu(x))')", "wrong vector length 7",
                                         "expected 9 (act-bench layout) or 6 (upstream layout)"]),
        ("mixed layouts", mixed_layouts, [record, "wrong vector length 6; expected 9 (act-bench layout)"]),
        ("nan accuracy", nan_acc, [record, "'Validation Accuracy'", "finite number in [0, 1]; got nan"]),
        ("unknown operator", unknown_op, ["('frob(x)')", "unknown operator 'frob'"]),
        ("unknown operator in equivalents", unknown_op_eq, [record, "entry 'tanh(y)'", "unknown operator 'y'"]),
        ("function in two records", twice, [record, "'relu(x)' is also listed under record 1 ('relu(x)')"]),
        ("non-numeric metric", string_metric, [record, "'Runtime (s)' must be a number; got 'fast'"]),
    ]


@pytest.mark.parametrize("case, mutate, fragments", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_upstream_input_exits_2_and_writes_nothing(tmp_path, layout_file, capsys, case, mutate, fragments):
    records = _records("act-bench")
    src = tmp_path / "bad.json"
    if case in ("truncated", "missing comma", "not an object", "empty object", "trailing data", "duplicate key"):
        src.write_text(mutate(json.dumps(records, indent=1)))
    else:
        _write(src, mutate(records))
    out = tmp_path / "out"
    out.mkdir()  # an existing empty folder must stay empty
    assert main(["import-upstream", str(src), "--out", str(out), "--layout", str(layout_file)]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert captured.out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("act-bench import-upstream: error: ")
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert list(out.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "layout.json",
                                                                                          "out"]


def test_other_bad_inputs(tmp_path, layout_file, capsys):
    src = _write(tmp_path / "ok.json", _records("act-bench"))
    out = tmp_path / "out"
    parquet = Path(__file__).resolve().parent / "data" / "tiny-table" / "functions.parquet"
    cases = [
        (["import-upstream", str(parquet), "--out", str(out), "--layout", str(layout_file)], "not UTF-8 text"),
        (["import-upstream", str(src), "--out", str(out)], "cannot tell the CDF layout"),
        (["import-upstream", str(tmp_path / "nope.json"), "--out", str(out), "--cdf-layout", "upstream"],
         "does not exist"),
        (["import-upstream", str(src), "--out", str(src), "--layout", str(layout_file)],
         "--out must be a directory"),
    ]
    for argv, fragment in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1, (argv, err)
        assert not out.exists()
    bad_layout = tmp_path / "bad_layout.json"
    bad_layout.write_text(json.dumps([{"layer": "a"}]))
    assert main(["import-upstream", str(src), "--out", str(out), "--layout", str(bad_layout)]) == 2
    assert "bad_layout.json" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("dims, layout", [(13_692, "act-bench"), (13_683, "upstream")])
def test_model_option_uses_the_real_all_cnn_c_layout(tmp_path, capsys, dims, layout):
    # the paper (appendix D) gives 13,692 dimensions for All-CNN-C with floor(|theta_l|/100) bins per layer; its 9
    # weight layers all have >= 200 weights, so the reference code's floor(|theta_l|/100) - 1 gives 13,692 - 9
    rng = np.random.default_rng(dims)
    records = {}
    for name in ("relu(x)", "tanh(x)"):
        rec = _records("act-bench")[name]
        rec["Fisher log eigenvalue CDF"] = np.sort(rng.uniform(0, 1, dims)).tolist()
        records[name] = rec
    src = _write(tmp_path / "cnn.json", records)
    out = tmp_path / "out"
    assert main(["import-upstream", str(src), "--out", str(out), "--model", "all-cnn-c", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fim_dims"] == dims
    table = load_table(out)
    meta = table.metadata
    assert meta["fim_cdf_layout"] == layout and meta["model"] == "all-cnn-c" and meta["task"] == "cifar10"
    assert len(meta["fim_layout"]) == 9 and sum(e["bins"] for e in meta["fim_layout"]) == dims
    assert table.functions["n_runs"].tolist() == [3, 3]
    np.testing.assert_array_equal(table.fim_matrix()[1], np.asarray(records["tanh(x)"]["Fisher log eigenvalue CDF"],
                                                                    dtype=np.float32))


def test_records_that_are_one_function_for_us_are_kept_and_listed(tmp_path, layout_file):
    # the reference deduplicated by printed outputs; zero(x) and mul(x,zero(x)) differ only in the sign of zero
    # (-0 for the 524 negative standard inputs), which is one function under our -0 == 0 convention
    records = _records("act-bench")
    records = {"zero(x)": records["tanh(x)"], "mul(x,zero(x))": records["relu(x)"] | {
        "Equivalent Activation Functions": []}}
    src = _write(tmp_path / "f.json", records)
    out = tmp_path / "out"
    assert main(["import-upstream", str(src), "--out", str(out), "--layout", str(layout_file)]) == 0
    table = load_table(out)
    assert list(table.functions["function"]) == ["zero(x)", "mul(x,zero(x))"]
    assert table.metadata["duplicate_outputs"] == [["zero(x)", "mul(x,zero(x))"]]
    # by name, and by outputs: the bitwise (signed-zero) match wins over the -0 == 0 one
    assert table.query("mul(x,zero(x))")["val_accuracy"] == records["mul(x,zero(x))"]["Validation Accuracy"]
    assert table.query("mul(zero(x),x)")["function"] == "mul(x,zero(x))"
    assert table.query("sub(x,x)")["function"] == "zero(x)"


def test_recorded_upstream_layouts_are_those_of_the_models_and_the_file_is_fresh():
    """The import reads the models' layouts as data (no model code below the engine); the data equals the models'."""
    import importlib.util

    from act_bench.features import fim_layout
    from act_bench.interop import UPSTREAM_MODELS
    from act_bench.interop._upstream import model_layout
    from data_builders.models import create_model

    dims = {"all-cnn-c": 13_692, "resnet-56": 16_500, "mobilevitv2-0.5": 11_013}  # the paper's dimensionalities
    for model in UPSTREAM_MODELS:
        ref = fim_layout(create_model(model, "relu(x)", num_classes=10))
        assert model_layout(model) == [{"layer": r.layer, "weights": r.weights} for r in ref.rows]
        assert sum(e["weights"] // 100 for e in model_layout(model)) == ref.dims == dims[model]
    script = Path(__file__).resolve().parents[1] / "docs" / "scripts" / "upstream_layouts.py"
    spec = importlib.util.spec_from_file_location("upstream_layouts", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.TARGET.read_text() == mod.text(), "stale: run python docs/scripts/upstream_layouts.py"
