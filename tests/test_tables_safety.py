"""Table safety: names that become paths, the validation layer (load, --verify), and atomic outputs."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from act_bench.cli import main

TINY = Path(__file__).resolve().parent / "data" / "tiny-table"


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _tiny_copy(dst: Path, **meta_changes) -> Path:
    shutil.copytree(TINY, dst)
    meta = json.loads((dst / "metadata.json").read_text())
    meta.update(meta_changes)
    (dst / "metadata.json").write_text(json.dumps(meta))
    return dst


@pytest.mark.parametrize("evil", ["../../x", "/abs/x", "a/b", ".hidden", "..", "x" * 97])
def test_publish_dry_run_refuses_a_table_name_that_would_become_a_path(tmp_path, monkeypatch, capsys, evil):
    # TMPDIR deep inside tmp_path, so that '../../x' from the publish temp folder would land inside tmp_path
    tmpdir = tmp_path / "t1" / "t2" / "t3"
    tmpdir.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    if evil.startswith("/"):
        evil = str(tmp_path / "abs" / "x")  # an absolute path this test may check
    table = _tiny_copy(tmp_path / "src" / "evil", name=evil)
    before = _listing(tmp_path)
    code = main(["publish", "--table", str(table), "--repo-id", "someone/tiny", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "'name' must be" in err and "Traceback" not in err
    assert _listing(tmp_path) == before  # nothing written anywhere, the temp folder cleaned
    assert not (tmp_path / "abs").exists()


def test_publish_dry_run_writes_only_inside_its_temp_folder(tmp_path, monkeypatch, capsys):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    monkeypatch.chdir(tmp_path)
    table = _tiny_copy(tmp_path / "src")
    before = _listing(tmp_path)
    assert main(["publish", "--table", str(table), "--repo-id", "someone/tiny", "--dry-run", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert sorted(f["path"] for f in listing["files"]) == sorted(os.listdir(TINY))
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("name", ["../x", "/abs/x", "a b"])
def test_import_upstream_name_is_validated(tmp_path, capsys, name):
    src = tmp_path / "up.json"
    src.write_text(json.dumps({}))
    code = main(["import-upstream", str(src), "--out", str(tmp_path / "out"), "--cdf-layout", "act-bench",
                 "--name", name])
    err = capsys.readouterr().err
    assert code == 2 and "parameter name of import_upstream must be" in err and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["up.json"]


# --- the validation layer ----------------------------------------------------------------------------------------

def _rewrite(folder: Path, config: str, edit) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / f"{config}.parquet"
    table = pq.read_table(path)
    df = table.to_pandas()
    df = edit(df)
    pq.write_table(pa.Table.from_pandas(df, schema=table.schema, preserve_index=False), path)


def _set(col, row, value):
    def edit(df):
        df = df.copy()
        values = list(df[col])
        values[row] = value
        df[col] = values
        return df
    return edit


def _rename_run_function(df):
    df = df.copy()
    df.loc[df.index[-1], "function"] = "sinh(x)"
    return df


CORRUPTIONS = {  # name: (config, edit, expected fragment of the one-line error)
    "accuracy 7.5": ("functions", _set("val_accuracy", 2, 7.5), "column 'val_accuracy' row 2"),
    "accuracy -1": ("functions", _set("test_accuracy", 0, -1.0), "column 'test_accuracy' row 0"),
    "run accuracy 1.5": ("runs", _set("train_accuracy", 4, 1.5), "column 'train_accuracy' row 4"),
    "infinite loss": ("functions", _set("val_loss", 1, float("inf")), "column 'val_loss' row 1"),
    "negative runtime": ("runs", _set("runtime", 3, -2.0), "column 'runtime' row 3"),
    "ok with NaN accuracy": ("functions", _set("val_accuracy", 0, float("nan")), "column 'status' row 0"),
    "unparsable name": ("functions", _set("function", 1, "nope(x)"), "column 'function' row 1"),
    "non-canonical name": ("functions", _set("function", 1, "tanh( x)"), "column 'function' row 1"),
    "wrong arity": ("functions", _set("function", 1, "add(x)"), "column 'function' row 1"),
    "run of an absent function": ("runs", _rename_run_function, "column 'function' row"),
    "n_runs mismatch": ("functions", _set("n_runs", 2, 7), "column 'n_runs' row 2"),
    "zero rows": ("functions", lambda df: df.iloc[:0], "zero rows"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_load_refuses_bad_values_naming_column_and_row(tmp_path, capsys, case):
    config, edit, fragment = CORRUPTIONS[case]
    folder = _tiny_copy(tmp_path / "t")
    if case == "zero rows":
        _rewrite(folder, "runs", lambda df: df.iloc[:0])
    _rewrite(folder, config, edit)
    out = tmp_path / "export"
    for argv in (["table", "info", "--table", str(folder)], ["export-hf", "--table", str(folder), "--out", str(out)],
                 ["publish", "--table", str(folder), "--repo-id", "a/b", "--dry-run"], ["table", "query", "--table", str(folder), "x"],
                 ["demo", "--table", str(folder), "--out", str(tmp_path / "demo")]):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert fragment in err and err.count("\n") == 1, err
    assert not out.exists() and not (tmp_path / "demo").exists()


def test_verify_recomputes_outputs_and_equivalence(tmp_path, capsys):
    from act_bench.space import function_outputs

    assert main(["table", "info", "--table", str(TINY), "--verify", "--json"]) == 0
    capsys.readouterr()
    # outputs of row 1 replaced by those of another function: loads (fast checks pass), --verify refuses
    folder = _tiny_copy(tmp_path / "t1")
    _rewrite(folder, "functions", _set("outputs", 1, function_outputs("sinh(x)")))
    assert main(["table", "info", "--table", str(folder), "--json"]) == 0
    capsys.readouterr()
    assert main(["table", "info", "--table", str(folder), "--verify"]) == 2
    err = capsys.readouterr().err
    assert "column 'outputs' row 1" in err and err.count("\n") == 1
    # an equivalent that is not equivalent
    folder = _tiny_copy(tmp_path / "t2")

    def add_member(df):
        df = df.copy()
        eqs = [list(e) for e in df["equivalents"]]
        eqs[0] = eqs[0] + ["sinh(x)"]
        df["equivalents"] = eqs
        return df

    _rewrite(folder, "functions", add_member)
    assert main(["table", "query", "--table", str(folder), "sinh(x)", "--verify"]) == 2
    err = capsys.readouterr().err
    assert "column 'equivalents' row 0" in err and "'sinh(x)'" in err


def test_shipped_tables_pass_the_deep_check():
    from act_bench.tables import load_table

    for name in ("act-bench-mnist1d", str(TINY)):
        table = load_table(name, verify=True)
        assert len(table) > 0


@pytest.mark.parametrize("bad", [{"fim_layout": [{"layer": "conv", "weights": 430, "bins": "four"}]},
                                 {"build": "oops"}, {"name": 7}, {"figures": "x.png"},
                                 {"build": {"wall_time_s": "slow"}}, {"license": ["mit"]}])
def test_wrong_types_in_metadata_are_one_line_errors(tmp_path, capsys, bad):
    folder = _tiny_copy(tmp_path / "t", **bad)
    assert main(["table", "info", "--table", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("act-bench table info: error: ") and err.count("\n") == 1 and "metadata.json" in err


def _upstream_record(eq: list[str]) -> dict:
    return {"Train Accuracy": 0.5, "Validation Accuracy": 0.4, "Test Accuracy": 0.4, "Train Loss": 1.0,
            "Validation Loss": 1.1, "Test Loss": 1.2, "Runtime (s)": 10.0, "Equivalent Activation Functions": eq,
            "Fisher log eigenvalue CDF": [0.5, 1.0]}


def test_import_upstream_checks_that_equivalents_are_equivalent(tmp_path, capsys):
    from act_bench.space import function_outputs
    from act_bench.tables import load_table

    records = {"relu(x)": _upstream_record(["max(x,zero(x))"]), "tanh(x)": _upstream_record(["sinh(x)"]),
               "exp(x)": _upstream_record(["abs(exp(x))", "cosh(x)"])}
    # the reference: which listed members really compute their record's function (float32 outputs, NaN == NaN)
    inequivalent = [(k, m) for k, r in records.items() for m in r["Equivalent Activation Functions"]
                    if not np.array_equal(function_outputs(k), function_outputs(m), equal_nan=True)]
    assert inequivalent == [("tanh(x)", "sinh(x)"), ("exp(x)", "cosh(x)")]
    src = tmp_path / "up.json"
    src.write_text(json.dumps(records))
    out = tmp_path / "out"
    args = ["import-upstream", str(src), "--out", str(out), "--cdf-layout", "act-bench"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'sinh(x)'" in err and "2 such member(s)" in err
    assert not out.exists()
    assert main([*args, "--accept-inequivalent", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "warning: 2 listed equivalent" in captured.err
    assert json.loads(captured.out)["inequivalent_equivalents"] == 2
    table = load_table(out, verify=True)
    assert [(d["function"], d["listed"]) for d in table.metadata["inequivalent_equivalents"]] == inequivalent
    assert [list(e) for e in table.functions["equivalents"]] == [["relu(x)", "max(x,zero(x))"], ["tanh(x)"],
                                                                  ["exp(x)", "abs(exp(x))"]]


# --- atomic outputs ----------------------------------------------------------------------------------------------

def test_a_save_killed_by_sigkill_leaves_a_temp_folder_that_the_next_save_removes(tmp_path):
    import signal
    import subprocess
    import sys

    from act_bench.tables import load_table

    target = tmp_path / "out"
    # a real process starts the final save (its hidden temp folder, a file half-written) and is SIGKILLed
    code = ("import os, signal, sys; from act_bench._io import make_temp_dir; tmp = make_temp_dir(sys.argv[1]); "
            "(tmp / 'functions.parquet').write_bytes(b'PAR1 half'); os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code, str(target)], check=False,
                          env={**os.environ, "PYTHONPATH": str(TINY.parents[2])})
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".out.tmp-")
    load_table(TINY).save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(os.listdir(target)) == sorted(os.listdir(TINY))


def test_a_failed_save_leaves_nothing(tmp_path):
    from act_bench.tables import load_table

    table = load_table(TINY)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        table.save(tmp_path / "file" / "out")  # a folder under a regular file: ENOTDIR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_space_count_refuses_a_huge_schema_with_an_estimate(capsys):
    schema = "binary(binary(unary(x),unary(x)),binary(unary(x),unary(x)))"
    assert main(["space", "count", "--space", schema, "--max-graphs", "1000000"]) == 2
    err = capsys.readouterr().err
    assert f"{27**4 * 7**3:,} graphs" in err and "about" in err and err.count("\n") == 1


def test_a_corrupted_data_page_is_a_one_line_error(tmp_path, capsys):
    """Bytes flipped inside the pages of the outputs column (float32 noise that zstd stores uncompressed, so only the
    page checksum can tell): the load refuses the file instead of returning wrong outputs."""
    import pyarrow.parquet as pq

    from act_bench.tables import load_table

    folder = tmp_path / "t"
    load_table(TINY).save(folder)
    path = folder / "functions.parquet"
    group = pq.ParquetFile(path).metadata.row_group(0)
    chunk = next(group.column(i) for i in range(group.num_columns)
                 if group.column(i).path_in_schema == "outputs.list.element")
    data = bytearray(path.read_bytes())
    middle = chunk.data_page_offset + chunk.total_compressed_size // 2
    for i in range(middle, middle + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    assert main(["table", "info", "--table", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "unreadable (corrupted) data" in err and err.count("\n") == 1
