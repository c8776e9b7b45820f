"""CLI: act-bench space count/show/list, errors, --help and --version."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from act_bench.cli import main
from act_bench.space import count_unique, function_outputs


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_space_count_json(capsys):
    code, out, err = run_cli(capsys, "space", "count", "--space", "binary(unary(x),unary(x))", "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["graphs"] == 5103
    assert result["unique"] == count_unique("binary(unary(x),unary(x))")
    assert result["schema"] == "binary(unary(x),unary(x))" and result["seconds"] >= 0


def test_space_count_union_of_schemas(capsys):
    code, out, _ = run_cli(capsys, "space", "count", "--space", "unary(x)", "--space", "unary(unary(x))",
                           "--json")
    assert code == 0
    result = json.loads(out)
    assert result["graphs"] == 27 + 27 * 27
    assert result["unique"] == count_unique(["unary(x)", "unary(unary(x))"])
    assert result["schema"] == ["unary(x)", "unary(unary(x))"]


def test_space_show(capsys):
    code, out, _ = run_cli(capsys, "space", "show", "max( zero(x), relu(x))", "--json")
    result = json.loads(out)
    y = function_outputs("relu(x)")
    assert result == {"canonical": "max(zero(x),relu(x))", "unique_representative": "relu(x)", "finite": True,
                      "min": float(y.min()), "max": float(y.max())}
    code, out, _ = run_cli(capsys, "space", "show", "exp(exp(exp(x)))", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["unique_representative"] is None and result["finite"] is False


def test_space_list_writes_parquet(capsys, tmp_path):
    out_file = tmp_path / "classes.parquet"
    code, out, _ = run_cli(capsys, "space", "list", "--space", "unary(unary(x))", "--unique", "--out",
                           str(out_file), "--json")
    assert code == 0
    table = pq.read_table(out_file).to_pandas()
    assert len(table) == count_unique("unary(unary(x))") == json.loads(out)["unique"]
    row = table[table.representative == "relu(x)"]
    assert row.empty  # relu(x) itself is not a two-node graph ...
    row = table[table.equivalents.apply(lambda m: "relu(identity(x))" in list(m))].iloc[0]
    assert list(row.outputs) == function_outputs("relu(x)").tolist()


@pytest.mark.parametrize("argv,message", [
    (["space", "show", "max(relu(x)"], "expected ')' at position 11"),
    (["space", "count", "--space", "binary(unary(x))"], "placeholder 'binary' cannot take 1 arguments"),
    (["space", "count", "--space", "binary(foo(x),x)"], "unknown operator 'foo'"),
    (["space", "list", "--out", "/nonexistent-dir/x.parquet"], "does not exist"),
    (["space", "list", "--out", "classes.csv"], "must end with .parquet"),
    (["space", "count", "--bogus"], "unrecognized option '--bogus'"),
    (["space"], "required"),
])
def test_space_errors_exit_2_one_line(capsys, argv, message):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    _, err = capsys.readouterr()
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_console_script_exit_code_and_version():
    proc = subprocess.run([sys.executable, "-m", "act_bench.cli._main", "space", "show", "relu(x"],
                          check=False, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "act_bench.cli._main", "--version"], check=False, capture_output=True,
                          text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("act-bench ")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_space_list_file_mode_follows_the_umask(capsys, tmp_path, umask):
    # the file gets the mode open() would give it (0644 under the usual umask), not mkstemp's 0600
    out_file = tmp_path / "x.parquet"
    old = os.umask(umask)
    try:
        assert main(["space", "list", "--space", "unary(x)", "--out", str(out_file)]) == 0
        (tmp_path / "peer").write_text("")  # the peer: a file created with open()
    finally:
        os.umask(old)
    capsys.readouterr()
    assert stat.S_IMODE(out_file.stat().st_mode) == stat.S_IMODE((tmp_path / "peer").stat().st_mode) \
        == 0o666 & ~umask
