"""CLI as a user meets it: --help for every command and option, --version, docs/cli.md current, and one wrong
input per command giving exit code 2 with a one-line message and no traceback."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from act_bench import __version__
from act_bench.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "tests" / "data" / "tiny-table")


def _load_reference_module():
    spec = importlib.util.spec_from_file_location("make_cli_reference", ROOT / "docs/scripts/make_cli_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _leaf_commands():
    ref = _load_reference_module()
    out = []
    for path, parser in ref.walk(build_parser()):
        if not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            out.append((path, parser))
    return out


def test_cli_reference_is_current():
    ref = _load_reference_module()
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == ref.render(), \
        "docs/cli.md is stale: run python docs/scripts/make_cli_reference.py"


@pytest.mark.parametrize("path,parser", _leaf_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_is_described(path, parser):
    assert parser.description or parser.format_help(), path
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help.strip(), f"{path}: option {action.option_strings or action.dest} has no help"


def test_version_and_top_level_help():
    proc = subprocess.run([sys.executable, "-m", "act_bench.cli._main", "--version"], check=False, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"act-bench {__version__}"
    proc = subprocess.run([sys.executable, "-m", "act_bench.cli._main", "--help"], check=False, capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("demo", "space", "build", "replay", "search", "table", "export-hf", "publish", "fim"):
        assert command in proc.stdout


WRONG_INPUTS = {
    "act-bench demo": (["demo", "--table", "/nonexistent/table", "--out", "{tmp}/demo"], "nonexistent"),
    "act-bench space count": (["space", "count", "--space", "trinary(x)"], "unknown operator 'trinary'"),
    "act-bench space show": (["space", "show", "relu(x"], "expected ')'"),
    "act-bench space list": (["space", "list", "--out", "{tmp}/x.csv"], ".parquet"),
    "act-bench import-upstream": (["import-upstream", "{tmp}/missing.json", "--out", "{tmp}/o", "--cdf-layout",
                                   "act-bench"], "missing.json"),
    "act-bench export-hf": (["export-hf", "--table", "/nonexistent/table", "--out", "{tmp}/o"], "nonexistent"),
    "act-bench export-synetune": (["export-synetune", "--table", "/nonexistent/table", "--out", "{tmp}/o"], "nonexistent"),
    "act-bench publish": (["publish", "--table", TINY, "--repo-id", "not a repo id", "--dry-run"], "not a valid Hub repo id"),
    "act-bench table info": (["table", "info", "--table", "/nonexistent/table"], "nonexistent"),
    "act-bench table query": (["table", "query", "--table", TINY, "relu(x"], "expected ')'"),
    "act-bench fetch": (["fetch", "act-bench-mlp", "--accept-license"], "invalid choice"),
    "act-bench cache info": (["cache", "info", "--bogus"], "unrecognized option '--bogus'"),
    "act-bench cache clear": (["cache", "clear", "--bogus"], "unrecognized option '--bogus'"),
    "act-bench recipes list": (["recipes", "list", "--bogus"], "unrecognized option '--bogus'"),
    "act-bench recipes show": (["recipes", "show", "no-such-recipe"], "no-such-recipe"),
    "act-bench build": (["build", "--recipe", "no-such-recipe", "--out", "{tmp}/b"], "no-such-recipe"),
    "act-bench replay": (["replay", "--table", TINY, "--algorithms", "magic"], "magic"),
    "act-bench plot map": (["plot", "map", "--table", TINY, "--features", "colour", "--out", "{tmp}/m.png"],
                           "invalid choice"),
    "act-bench plot eigenvalues": (["plot", "eigenvalues", "--table", TINY, "--functions", "cosh(x)", "--out",
                                    "{tmp}/e.png"], "cosh(x)"),
    "act-bench models list": (["models", "list", "--bogus"], "unrecognized option '--bogus'"),
    "act-bench models describe": (["models", "describe", "vgg-16"], "vgg-16"),
    "act-bench fim": (["fim", "--model", "mnist1d-cnn", "relu(x", "--json"], "expected ')'"),
    "act-bench search run": (["search", "run", "--recipe", "no-such-recipe", "--space", "unary(x)", "--searcher",
                              "random", "--budget", "2", "--journal", "{tmp}/j.sqlite"], "no-such-recipe"),
    "act-bench search status": (["search", "status", "--journal", "{tmp}/none.sqlite", "--json"], "none.sqlite"),
    "act-bench search export": (["search", "export", "--journal", "{tmp}/none.sqlite", "--out", "{tmp}/t"],
                                "none.sqlite"),
}


def test_every_command_has_a_wrong_input_case():
    assert {p for p, _ in _leaf_commands() if p != "act-bench"} == set(WRONG_INPUTS)


@pytest.mark.parametrize("command", sorted(WRONG_INPUTS))
def test_wrong_input_exits_2_with_one_line(command, tmp_path, capsys):
    argv, fragment = WRONG_INPUTS[command]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (command, out, err)
    assert fragment in err, (command, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not any(p.name in ("o", "b", "t", "demo") and any(p.iterdir()) for p in tmp_path.iterdir() if p.is_dir())


def test_the_demo_names_the_suite_and_what_is_built(tmp_path):
    """The demo's suite paragraph lists the three suite tables, marks those without a folder in data/ (checked on
    disk here) as not built, and gives the cross-table replay once all three are built, the build commands before."""
    from act_bench.cli._demo import suite_text
    from act_bench.tables import SUITE_TABLES

    data = Path(__file__).resolve().parents[1] / "data"
    on_disk = {n for n in SUITE_TABLES if (data / n / "metadata.json").is_file()}
    text = suite_text("act-bench-mnist1d")
    assert "is one of the three tables" in text and all(f"`{n}`" in text for n in SUITE_TABLES)
    for n in SUITE_TABLES:
        assert (f"{n}` (" + {"act-bench-mnist1d": "CNN", "act-bench-mnist1d-resnet": "ResNet",
                             "act-bench-mnist1d-vit": "ViT"}[n] + ", not built here)" in text) == (n not in on_disk)
    none = suite_text("my-table", built=set())
    assert "is not one of" in none and none.count("act-bench build --recipe") == 3
    assert "act-bench replay --table " + ",".join(SUITE_TABLES) in none
    everything = suite_text("act-bench-mnist1d-vit", built=set(SUITE_TABLES))
    assert "not built here" not in everything and "act-bench build" not in everything
    assert "--algorithms random,knr:both" in everything
