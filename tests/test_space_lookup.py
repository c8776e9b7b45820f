"""The default space's shipped lookup (``space show`` without torch) and the torch-free operator catalogue."""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from act_bench.cli import main
from act_bench.cli._space import DEFAULT_SCHEMA, _show_by_evaluation
from act_bench.space import (
    BASELINE_FUNCTIONS,
    DEFAULT_SPACE_SCHEMA,
    enumerate_schema,
    function_outputs,
    get_operator,
    list_operators,
    lookup_default_space,
    summarize_outputs,
)
from act_bench.space._catalogue import CATALOGUE
from act_bench.space._lookup import DEFAULT_SPACE_FILE
from act_bench.space._make_lookup import render_default_space

ROOT = Path(__file__).resolve().parents[1]
SPACE = [str(e) for e in enumerate_schema(DEFAULT_SPACE_SCHEMA)]
MEMBERS = SPACE + list(BASELINE_FUNCTIONS)


def test_shipped_file_equals_a_rebuild_from_the_enumeration():
    # the real enumeration with torch, rendered again: byte-for-byte the shipped package data
    assert render_default_space() == DEFAULT_SPACE_FILE.read_text(encoding="utf-8")


def test_cli_default_schema_is_the_lookup_schema():
    assert DEFAULT_SCHEMA == DEFAULT_SPACE_SCHEMA


def test_every_graph_and_baseline_is_a_member_under_both_rules():
    for signed_zero in (False, True):
        assert all(lookup_default_space(m, signed_zero=signed_zero) is not None for m in MEMBERS)
    assert lookup_default_space("tanh(tanh(x))") is None  # equivalent to nothing listed, not a member


def _same_float(a: float, b: float) -> bool:
    return np.array(a, np.float64).tobytes() == np.array(b, np.float64).tobytes() or (np.isnan(a) and np.isnan(b))


def test_summary_of_every_member_equals_its_own_outputs():
    # the summary is stored once per signed-zero class; each member's own outputs (evaluated alone, as the torch path
    # does) must give the same finite flag and the same min/max bits (-0.0 vs 0.0 included)
    for name in MEMBERS:
        want = summarize_outputs(function_outputs(name))
        got = lookup_default_space(name, signed_zero=True).summary
        assert got.finite == want.finite and _same_float(got.min, want.min) and _same_float(got.max, want.max), name


def _args(signed_zero: bool) -> argparse.Namespace:
    return argparse.Namespace(space=None, extra_ops=False, signed_zero=signed_zero)


@pytest.mark.parametrize("signed_zero", [False, True], ids=["-0==0", "signed-zero"])
def test_lookup_equals_the_torch_path_on_a_sample_and_all_baselines(signed_zero):
    sample = random.Random(17).sample(SPACE, 40) + list(BASELINE_FUNCTIONS)
    sample += ["mul(one(x),zero(x))", "div(zero(x),relu(x))", "max(relu(x),relu(x))"]
    differ = 0
    for name in sample:
        entry = lookup_default_space(name, signed_zero=signed_zero)
        rep, summary = _show_by_evaluation(name, _args(signed_zero))
        assert entry.representative == rep, name
        assert entry.summary.finite == summary.finite, name
        assert _same_float(entry.summary.min, summary.min) and _same_float(entry.summary.max, summary.max), name
        differ += entry.representative != name
    assert differ > 0  # the sample includes members that are not their own representative


def test_the_two_rules_differ_somewhere():
    # -0.0 vs 0.0: both are zero everywhere, but div(zero(x),negative(x)) is -0 where x > 0
    a, b = "mul(one(x),zero(x))", "div(zero(x),negative(x))"
    assert lookup_default_space(a).representative == lookup_default_space(b).representative
    assert lookup_default_space(a, signed_zero=True).representative != lookup_default_space(
        b, signed_zero=True).representative
    assert any(lookup_default_space(m, signed_zero=True).representative
               != lookup_default_space(m, signed_zero=False).representative for m in MEMBERS)


def _cli_json(argv: list[str], capsys) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_show_fast_path_matches_fallback_output(capsys):
    # the CLI's JSON answered from the lookup equals the torch path's result (evaluation plus enumeration)
    for name in ["max(zero(x),relu(x))", "relu(x)", "add(tanh(x),erf(x))"]:
        for sz in ([], ["--signed-zero"]):
            out = _cli_json(["space", "show", name, "--json", *sz], capsys)
            rep, summary = _show_by_evaluation(name, _args(bool(sz)))
            assert out == {"canonical": name, "unique_representative": rep, "finite": summary.finite,
                           "min": summary.min, "max": summary.max}


_PROBE = ("import json, sys\nfrom act_bench.cli import main\n"
          "code = main(sys.argv[1:])\n"
          "sys.__stderr__.write('\\nTORCH ' + json.dumps('torch' in sys.modules))\nsys.exit(code)\n")


@pytest.mark.parametrize(("expr", "torch_needed"), [("max(identity(x),zero(x))", False), ("relu(x)", False),
                                                      ("tanh(tanh(x))", True)])
def test_space_show_imports_torch_only_outside_the_lookup(expr, torch_needed):
    proc = subprocess.run([sys.executable, "-c", _PROBE, "space", "show", expr, "--json"], capture_output=True,
                          text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stderr.rsplit("TORCH ", 1)[1]) is torch_needed
    rep, _ = _show_by_evaluation(expr, _args(False))
    assert json.loads(proc.stdout)["unique_representative"] == rep


def test_parse_path_is_torch_free():
    code = ("import sys\nfrom act_bench.space import parse, parse_schema, OpKind\n"
            "print(parse(' max( relu(x), x) '), parse_schema('binary(unary(x),unary(x))'), OpKind('n-ary').value)\n"
            "try:\n    parse('relu(x, x)')\nexcept ValueError as e:\n    print('error:', e)\n"
            "print('torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    lines = proc.stdout.splitlines()
    assert lines[0] == "max(relu(x),x) binary(unary(x),unary(x)) n-ary", proc.stderr[-2000:]
    assert "operator 'relu' takes 1 argument, got 2" in lines[1]
    assert lines[2] == "False"


def test_operators_are_built_from_the_catalogue():
    assert list_operators() == list(CATALOGUE)
    for name, spec in CATALOGUE.items():
        op = get_operator(name)
        assert (op.name, op.kind, op.extra, op.fold) == (spec.name, spec.kind, spec.extra, spec.fold)
    for kind in ("unary", "binary", "n-ary"):
        assert list_operators(kind, extra=False) == [n for n, s in CATALOGUE.items()
                                                     if s.kind.value == kind and not s.extra]


def test_lookup_file_is_declared_package_data():
    # the wheel ships the file only if a package-data pattern of act_bench.space matches it
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["act_bench.space"]
    relative = DEFAULT_SPACE_FILE.relative_to(ROOT / "act_bench" / "space").as_posix()
    assert any(fnmatch.fnmatch(relative, p) for p in patterns), (relative, patterns)
